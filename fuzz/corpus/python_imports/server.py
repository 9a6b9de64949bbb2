"""The python-lazy fixture: a web application in a venv whose pages import standard
library modules only when they are requested, inside their handler functions.

GET / names none of them. GET /fraction imports fractions (pure Python), GET /decimal
decimal (the C module _decimal, with libmpdec) and GET /sqlite sqlite3 (the C module
_sqlite3, with libsqlite3). A traced run that only requests / never loads them: they reach
a minified image only if the modules this file can import are kept. (bz2 and lzma would
not do: http.server imports them at start-up, through shutil.)
"""

import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def home():
    return {"app": "slim python-lazy fixture", "prefix": sys.prefix}


def fraction():
    import fractions

    return {"sum": str(fractions.Fraction(1, 3) + fractions.Fraction(1, 6))}


def decimal_page():
    import decimal

    with decimal.localcontext() as context:
        context.prec = 30
        third = decimal.Decimal(1) / decimal.Decimal(3)
    return {"third": str(third), "c_module": "_decimal" in sys.modules}


def sqlite():
    import sqlite3

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (n INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1, 11)])
    (total,) = connection.execute("SELECT sum(n) FROM t").fetchone()
    connection.close()
    return {"sum": total}


PAGES = {
    "/": home,
    "/fraction": fraction,
    "/decimal": decimal_page,
    "/sqlite": sqlite,
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        page = PAGES.get(self.path)
        if page is None:
            self.send_error(404)
            return
        try:
            status, answer = 200, page()
        except Exception as err:  # an import that fails in a minified image
            status, answer = 500, {"error": f"{type(err).__name__}: {err}"}
        body = (json.dumps(answer, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    # PID 1 ignores SIGTERM without a handler: stop as `docker stop` asks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    HTTPServer(("", 8000), Handler).serve_forever()


if __name__ == "__main__":
    main()
