//! What a port that is not HTTP speaks, learnt without upsetting it: a server that talks
//! first (SSH, SMTP, FTP, the MySQL/MariaDB handshake) is only read; a known server that
//! waits for its client (Redis, PostgreSQL, Memcached, chosen by the program listening or
//! its usual port) gets one light, read-only request that needs no credentials and changes
//! no data. Its answer, normalised, is a probe result that verification compares.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a new connection is read before slim speaks: a server that talks first has
/// said something by then.
pub const BANNER_WAIT: Duration = Duration::from_millis(300);

/// How long a probed server may take to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// A server that waits for its client, and the request that identifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFirst {
    Redis,
    Postgresql,
    Memcached,
}

impl ClientFirst {
    pub fn name(self) -> &'static str {
        match self {
            ClientFirst::Redis => "redis",
            ClientFirst::Postgresql => "postgresql",
            ClientFirst::Memcached => "memcached",
        }
    }

    /// The protocol the program `program` (a process's command name) listening on `port`
    /// is expected to speak, by the program first, then by the port's usual use.
    pub fn expected(program: &str, port: u16) -> Option<ClientFirst> {
        match program {
            p if p.starts_with("redis-server") || p.starts_with("valkey-server") => {
                Some(ClientFirst::Redis)
            }
            "postgres" | "postmaster" => Some(ClientFirst::Postgresql),
            "memcached" => Some(ClientFirst::Memcached),
            _ => match port {
                6379 => Some(ClientFirst::Redis),
                5432 => Some(ClientFirst::Postgresql),
                11211 => Some(ClientFirst::Memcached),
                _ => None,
            },
        }
    }

    /// The request: RESP `PING`; PostgreSQL's SSLRequest (answered with one byte, before
    /// any authentication); Memcached's `version`.
    fn request(self) -> &'static [u8] {
        match self {
            ClientFirst::Redis => b"PING\r\n",
            ClientFirst::Postgresql => &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f],
            ClientFirst::Memcached => b"version\r\n",
        }
    }

    /// The answer, normalised (what verification compares), if it is this protocol's.
    pub fn recognise(self, answer: &[u8]) -> Option<String> {
        let line = String::from_utf8_lossy(answer);
        let line = line.lines().next().unwrap_or("").trim();
        match self {
            // +PONG, or an error such as -NOAUTH when a password is set: Redis either way.
            ClientFirst::Redis => match answer.first() {
                Some(b'+') => Some(line.to_string()),
                Some(b'-') => Some(line.split_whitespace().next().unwrap_or("-ERR").to_string()),
                _ => None,
            },
            ClientFirst::Postgresql => match answer {
                [b'S'] => Some("SSL supported".into()),
                [b'N'] => Some("SSL not supported".into()),
                _ => None,
            },
            ClientFirst::Memcached => line.starts_with("VERSION ").then(|| "VERSION".into()),
        }
    }

    /// Sends the request on `stream` and reads the answer: the normalised answer, or why it
    /// is not this protocol's.
    pub async fn ask<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        stream: &mut S,
    ) -> Result<String, String> {
        stream
            .write_all(self.request())
            .await
            .map_err(|e| format!("sending {}: {e}", self.name()))?;
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(ANSWER_WAIT, stream.read(&mut buf)).await;
        let got = match read {
            Err(_) => {
                return Err(format!(
                    "no answer to {} within {ANSWER_WAIT:?}",
                    self.name()
                ));
            }
            Ok(Err(e)) => return Err(format!("reading the answer: {e}")),
            Ok(Ok(0)) => return Err("closed the connection without answering".into()),
            Ok(Ok(n)) => &buf[..n],
        };
        self.recognise(got)
            .ok_or_else(|| format!("answered {:?}, not {}", printable(got), self.name()))
    }
}

/// What a server that talks first announced itself as.
pub fn banner_name(banner: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(banner);
    if banner.starts_with(b"SSH-") {
        "ssh"
    } else if text.starts_with("220") && text.to_ascii_lowercase().contains("ftp") {
        "ftp"
    } else if text.starts_with("220") {
        "smtp"
    } else if is_mysql_handshake(banner) {
        "mysql"
    } else {
        "other"
    }
}

/// A MySQL/MariaDB initial handshake: a 3-byte length, sequence 0, protocol version 10,
/// then a NUL-terminated server version.
fn is_mysql_handshake(packet: &[u8]) -> bool {
    packet.len() > 5
        && packet[3] == 0
        && packet[4] == 10
        && packet[5..].iter().take(64).any(|b| *b == 0)
}

/// At most 40 bytes, with what is not printable escaped, for messages.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(40)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_expected_from_the_program_then_the_port() {
        assert_eq!(
            ClientFirst::expected("redis-server", 7000),
            Some(ClientFirst::Redis)
        );
        assert_eq!(
            ClientFirst::expected("postgres", 6000),
            Some(ClientFirst::Postgresql)
        );
        assert_eq!(
            ClientFirst::expected("python3", 5432),
            Some(ClientFirst::Postgresql)
        );
        assert_eq!(ClientFirst::expected("nginx", 80), None);
    }

    #[test]
    fn answers_are_recognised_and_normalised() {
        let redis = ClientFirst::Redis;
        assert_eq!(redis.recognise(b"+PONG\r\n").as_deref(), Some("+PONG"));
        assert_eq!(
            redis
                .recognise(b"-NOAUTH Authentication required.\r\n")
                .as_deref(),
            Some("-NOAUTH")
        );
        assert_eq!(redis.recognise(b"HTTP/1.1 400 Bad Request"), None);
        let pg = ClientFirst::Postgresql;
        assert_eq!(pg.recognise(b"N").as_deref(), Some("SSL not supported"));
        assert_eq!(pg.recognise(b"NO"), None);
        let memcached = ClientFirst::Memcached;
        assert_eq!(
            memcached.recognise(b"VERSION 1.6.18\r\n").as_deref(),
            Some("VERSION")
        );
    }

    #[test]
    fn banners_name_servers_that_talk_first() {
        assert_eq!(banner_name(b"SSH-2.0-OpenSSH_9.2p1\r\n"), "ssh");
        assert_eq!(banner_name(b"220 mail.example ESMTP Postfix\r\n"), "smtp");
        assert_eq!(banner_name(b"220 (vsFTPd 3.0.3)\r\n"), "ftp");
        let mut mariadb = vec![0x5a, 0, 0, 0, 10];
        mariadb.extend_from_slice(b"5.5.5-10.11.6-MariaDB\0rest");
        assert_eq!(banner_name(&mariadb), "mysql");
        assert_eq!(banner_name(b"hello"), "other");
    }

    #[tokio::test]
    async fn a_redis_ping_is_asked_and_answered() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let serve = tokio::spawn(async move {
            let mut buf = [0u8; 6];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"PING\r\n");
            server.write_all(b"+PONG\r\n").await.unwrap();
        });
        assert_eq!(
            ClientFirst::Redis.ask(&mut client).await.as_deref(),
            Ok("+PONG")
        );
        serve.await.unwrap();
    }
}
