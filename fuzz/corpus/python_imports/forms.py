from ..pkg.sub import (a,
    b as c)  # comment
x = rb'\' import no' + f"{y!r:>{w}}" ; import d.e as f, g
s = """import no
""" \
    + u'from no import x'
try: import h
except ImportError: __import__("i.j"); importlib.import_module(name)
