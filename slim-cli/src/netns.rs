//! The container's network, seen from its own namespace: which TCP ports its processes
//! listen on (read from the kernel's socket tables, without connecting), and connections
//! opened from inside the namespace, so a server bound to the container's loopback is
//! reached as the container itself would reach it, and nothing is published on the host.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use tokio::net::{TcpSocket, TcpStream};

/// Whose processes a port must be listened on by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Processes {
    /// Every process of a cgroup (v2) and its descendants: a container.
    Cgroup(PathBuf),
    /// These processes (tests stand in for a container with their own).
    Pids(Vec<u32>),
}

impl Processes {
    /// The processes now.
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Processes::Cgroup(dir) => {
                let mut pids = Vec::new();
                cgroup_pids(dir, &mut pids);
                pids
            }
            Processes::Pids(pids) => pids.clone(),
        }
    }
}

/// A TCP socket in LISTEN state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
    /// The command name of a process holding it (`redis-server`, `postgres` …).
    pub program: String,
}

impl Listener {
    /// Whether it accepts connections from outside its host (or namespace).
    pub fn is_loopback(&self) -> bool {
        self.addr.is_loopback()
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketAddr::new(self.addr, self.port).fmt(f)
    }
}

/// The TCP sockets `processes` listen on, sorted, each once. Sockets of other processes
/// sharing the namespace (the host's, with `--network host`) do not count.
pub fn listeners(processes: &Processes) -> Vec<Listener> {
    let pids = processes.pids();
    let mut inodes = HashMap::new();
    let mut namespaces = HashSet::new();
    let mut tables = Vec::new();
    for &pid in &pids {
        let program = fs_err::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim_end().to_string())
            .unwrap_or_default();
        for inode in socket_inodes(pid) {
            inodes.entry(inode).or_insert_with(|| program.clone());
        }
        // One read of the tables per network namespace.
        let namespace = fs_err::metadata(format!("/proc/{pid}/ns/net"))
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        if namespace.is_some_and(|ns| namespaces.insert(ns)) {
            tables.push(pid);
        }
    }
    let mut found = BTreeSet::new();
    for pid in tables {
        // The kernel's socket diagnostics list the listening sockets alone; its text
        // tables walk every connection of the host's hash table first (3 ms a read here,
        // a third of a core at one read every 10 ms while an application starts).
        match diagnosed_listeners(pid) {
            Ok(sockets) => found.extend(sockets.into_iter().filter_map(|(addr, port, inode)| {
                Some(Listener {
                    addr,
                    port,
                    program: inodes.get(&inode)?.clone(),
                })
            })),
            Err(_) => {
                for table in ["tcp", "tcp6"] {
                    if let Ok(text) = fs_err::read_to_string(format!("/proc/{pid}/net/{table}")) {
                        found.extend(parse_listeners(&text, &inodes));
                    }
                }
            }
        }
    }
    found.into_iter().collect()
}

/// `SOCK_DIAG_BY_FAMILY`, `NLMSG_DONE`, `NLMSG_ERROR`, and a dump request's flags.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const DUMP_REQUEST: u16 = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
/// `TCP_LISTEN` as a bit of `idiag_states`.
const LISTEN_STATE: u32 = 1 << 10;

/// The TCP sockets in LISTEN state of `pid`'s network namespace, each as its address, port
/// and inode, from the kernel's socket diagnostics (`NETLINK_SOCK_DIAG`, as `ss -lt` asks).
fn diagnosed_listeners(pid: u32) -> std::io::Result<Vec<(IpAddr, u16, u64)>> {
    let socket = std::thread::spawn(move || {
        socket_in_namespace(
            pid,
            libc::AF_NETLINK,
            libc::SOCK_RAW,
            libc::NETLINK_SOCK_DIAG,
        )
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")))?;
    let mut found = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        let mut request = Vec::with_capacity(72);
        request.extend_from_slice(&72u32.to_ne_bytes());
        request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        request.extend_from_slice(&DUMP_REQUEST.to_ne_bytes());
        request.extend_from_slice(&[0; 8]); // sequence number, port id
        request.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
        request.extend_from_slice(&LISTEN_STATE.to_ne_bytes());
        request.resize(72, 0); // the socket id: any
        // SAFETY: send(2) of a buffer this function owns, on a descriptor it owns.
        let sent = unsafe {
            libc::send(
                socket.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: recv(2) into a buffer this function owns, within its length.
            let got = unsafe {
                libc::recv(
                    socket.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    0,
                )
            };
            let got = usize::try_from(got).map_err(|_| std::io::Error::last_os_error())?;
            if parse_diagnosis(&buffer[..got], &mut found)? || got == 0 {
                break;
            }
        }
    }
    Ok(found)
}

/// Adds the listening sockets of one batch of `SOCK_DIAG_BY_FAMILY` answers to `found`;
/// `true` when the batch ends the dump.
fn parse_diagnosis(mut batch: &[u8], found: &mut Vec<(IpAddr, u16, u64)>) -> std::io::Result<bool> {
    let u16_at = |b: &[u8], at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
    let u32_at =
        |b: &[u8], at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap_or_default());
    while batch.len() >= 16 {
        let len = u32_at(batch, 0) as usize;
        if len < 16 || len > batch.len() {
            return Err(std::io::Error::other("a truncated socket diagnosis"));
        }
        let (message, rest) = batch.split_at(len.next_multiple_of(4).min(batch.len()));
        batch = rest;
        match u16_at(message, 4) {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = i32::from_ne_bytes(message[16..20].try_into().unwrap_or_default());
                return Err(std::io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY if message.len() >= 16 + 72 => {
                let body = &message[16..];
                // family, state, timer, retransmits; then the id: source port (big
                // endian), destination port, source address (16 bytes) …; the inode last.
                let port = u16::from_be_bytes([body[4], body[5]]);
                let addr = match i32::from(body[0]) {
                    libc::AF_INET => {
                        IpAddr::V4(Ipv4Addr::new(body[8], body[9], body[10], body[11]))
                    }
                    _ => {
                        let octets: [u8; 16] = body[8..24].try_into().unwrap_or_default();
                        let v6 = Ipv6Addr::from(octets);
                        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
                    }
                };
                found.push((addr, port, u64::from(u32_at(body, 68))));
            }
            _ => {}
        }
    }
    Ok(false)
}

/// The pids of `dir`'s `cgroup.procs` and of every cgroup below it.
fn cgroup_pids(dir: &Path, out: &mut Vec<u32>) {
    if let Ok(text) = fs_err::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    if let Ok(entries) = fs_err::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                cgroup_pids(&entry.path(), out);
            }
        }
    }
}

/// The inodes of the sockets process `pid` holds open.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(entries) = fs_err::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| fs_err::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The sockets in LISTEN state of a `/proc/net/tcp` or `/proc/net/tcp6` table whose inode
/// is one of `inodes` (each with the program holding it).
pub fn parse_listeners(table: &str, inodes: &HashMap<u64, String>) -> Vec<Listener> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            if *state != LISTEN {
                return None;
            }
            let program = inodes.get(&inode.parse::<u64>().ok()?)?;
            let (addr, port) = local.split_once(':')?;
            Some(Listener {
                addr: parse_address(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
                program: program.clone(),
            })
        })
        .collect()
}

/// An address as the kernel's tables print it: the bytes of each 32-bit word in host
/// (little-endian) order.
fn parse_address(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            let v6 = Ipv6Addr::from(octets);
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

/// Connects to `addr` from inside the network namespace of process `pid`: a thread of its
/// own enters the namespace and makes the socket (a socket stays in the namespace it was
/// made in), which then connects as any other.
pub async fn connect_from(pid: u32, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let family = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    let socket = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            socket_in_namespace(pid, family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")))
    })
    .await
    .map_err(std::io::Error::other)??;
    // SAFETY: the descriptor is a TCP socket this process owns and hands over here.
    let socket = unsafe { TcpSocket::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(socket)) };
    socket.connect(addr).await
}

/// A socket made in `pid`'s network namespace (by this thread, which is left in that
/// namespace: it must end after this).
fn socket_in_namespace(
    pid: u32,
    family: libc::c_int,
    kind: libc::c_int,
    protocol: libc::c_int,
) -> std::io::Result<OwnedFd> {
    let path = format!("/proc/{pid}/ns/net");
    let namespace = fs_err::File::open(&path)?;
    // SAFETY: setns on a descriptor this thread holds; it changes only this thread.
    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let error = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            error.kind(),
            format!("entering the network namespace {path}: {error}"),
        ));
    }
    // SAFETY: plain socket(2); the descriptor is owned by the OwnedFd below.
    let fd = unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_diagnosis_lists_the_listening_sockets_and_no_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connection = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let local = connection.local_addr().unwrap().port();
        let sockets = diagnosed_listeners(std::process::id()).unwrap();
        let mine: Vec<&(IpAddr, u16, u64)> = sockets.iter().filter(|s| s.1 == port).collect();
        assert_eq!(mine.len(), 1, "{sockets:?}");
        assert_eq!(mine[0].0, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(socket_inodes(std::process::id()).contains(&mine[0].2));
        assert!(!sockets.iter().any(|s| s.1 == local), "{sockets:?}");
        // As `listeners` names it, with the program that holds it.
        let named = listeners(&Processes::Pids(vec![std::process::id()]));
        assert!(named.iter().any(|l| l.port == port), "{named:?}");
    }

    #[test]
    fn a_refused_socket_diagnosis_is_an_error() {
        let mut batch = Vec::new();
        batch.extend_from_slice(&36u32.to_ne_bytes());
        batch.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        batch.extend_from_slice(&[0; 10]);
        batch.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        batch.extend_from_slice(&[0; 16]);
        let error = parse_diagnosis(&batch, &mut Vec::new()).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EPERM));
        assert!(!parse_diagnosis(&batch[..8], &mut Vec::new()).unwrap());
    }

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4001 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9999 1 0000000000000000 100 0 0 10 0
   3: 020011AC:1F90 010011AC:C350 01 00000000:00000000 00:00000000 00000000     0        0 4003 1 0000000000000000 20 4 30 10 -1
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4004 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4005 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn listeners_are_read_from_the_kernel_tables_for_the_given_sockets_only() {
        let inodes: HashMap<u64, String> = [4001, 4002, 4003, 4004, 4005]
            .map(|i| (i, "redis-server".to_string()))
            .into();
        let v4: Vec<String> = parse_listeners(TCP, &inodes)
            .iter()
            .map(ToString::to_string)
            .collect();
        // 9999 is another process's; 4003 is a connection, not a listener.
        assert_eq!(v4, ["127.0.0.1:6379", "0.0.0.0:8080"]);
        let v6: Vec<String> = parse_listeners(TCP6, &inodes)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(v6, ["[::1]:6379", "[::]:80"]);
        let first = &parse_listeners(TCP, &inodes)[0];
        assert!(first.is_loopback() && first.program == "redis-server");
    }

    #[tokio::test]
    async fn a_listener_of_this_process_is_found_and_reached_from_its_namespace() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let own = Processes::Pids(vec![std::process::id()]);
        let found = listeners(&own);
        let mine = found.iter().find(|l| l.port == port).expect("the listener");
        assert_eq!(mine.addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(!mine.program.is_empty(), "{found:?}");
        let stream = connect_from(std::process::id(), SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), port);
        drop(server);
        assert!(!listeners(&own).iter().any(|l| l.port == port));
        assert!(listeners(&Processes::Pids(vec![u32::MAX])).is_empty());
    }
}
