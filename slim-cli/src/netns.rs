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
        for table in ["tcp", "tcp6"] {
            if let Ok(text) = fs_err::read_to_string(format!("/proc/{pid}/net/{table}")) {
                found.extend(parse_listeners(&text, &inodes));
            }
        }
    }
    found.into_iter().collect()
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
    let v6 = addr.is_ipv6();
    let socket = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || socket_in_namespace(pid, v6))
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")))
    })
    .await
    .map_err(std::io::Error::other)??;
    // SAFETY: the descriptor is a TCP socket this process owns and hands over here.
    let socket = unsafe { TcpSocket::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(socket)) };
    socket.connect(addr).await
}

/// A non-blocking TCP socket made in `pid`'s network namespace (by this thread, which is
/// left in that namespace: it must end after this).
fn socket_in_namespace(pid: u32, v6: bool) -> std::io::Result<OwnedFd> {
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
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain socket(2); the descriptor is owned by the OwnedFd below.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

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
