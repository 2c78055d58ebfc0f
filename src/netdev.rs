//! `linux.netDevices` (runtime-spec 1.3): host network interfaces moved into the container's
//! network namespace, as runc 1.4+ moves them. Each is moved and renamed in one rtnetlink
//! request (RTM_NEWLINK with IFLA_NET_NS_FD and IFLA_IFNAME, so no name clash on either side in
//! between); its permanent global-scope addresses, which the kernel drops in a move, are added
//! again in the container's namespace, and it is set up there. rt moves them when init asks for
//! its runtime step (before the prestart hooks), and never moves them back: the spec forbids it;
//! when the namespace goes, the kernel returns physical devices to the initial namespace and
//! destroys virtual ones. A few hundred lines of rtnetlink, not a netlink crate: rt needs four
//! requests, and its binary has a size budget.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use oci_spec::runtime::{Linux, LinuxNamespaceType, LinuxNetDevice};

// include/uapi/linux/{netlink,rtnetlink,if_link,if_addr}.h
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_F_PERMANENT: u8 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 1;

/// A name the kernel takes for a network interface (dev_valid_name): 1 to 15 bytes, not `.` or
/// `..`, no `/`, `:` or whitespace. `%d` (a template the kernel fills in) is allowed in `name`.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() < libc::IFNAMSIZ
        && n != "."
        && n != ".."
        && !n.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// What the config itself gets wrong, each problem starting with its JSON path. `has_netns`:
/// linux.namespaces has a network namespace.
pub fn problems(l: &Linux, has_netns: bool) -> Vec<String> {
    let mut v = Vec::new();
    let Some(devs) = l.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return v;
    };
    if !has_netns {
        v.push(
            "linux.netDevices: moving network devices needs a network namespace in \
             linux.namespaces (the container would share rt's)"
                .into(),
        );
    }
    let own = l.namespaces().iter().flatten().any(|n| {
        n.typ() == LinuxNamespaceType::Network
            && n.path()
                .as_ref()
                .is_some_and(|p| crate::namespaces::is_own(n.typ(), p))
    });
    if own {
        v.push(
            "linux.netDevices: the network namespace joined by path is rt's own: the devices \
             would not leave it"
                .into(),
        );
    }
    for (host, d) in sorted(devs) {
        if !valid_name(host) {
            v.push(format!(
                "linux.netDevices: {host:?} is not a valid interface name"
            ));
        }
        if let Some(n) = d.name().as_deref().filter(|n| !n.is_empty())
            && !valid_name(n)
        {
            v.push(format!(
                "linux.netDevices.{host}.name: {n:?} is not a valid interface name"
            ));
        }
    }
    v
}

/// The devices by host name (a HashMap's order is random; moves and messages should not be).
fn sorted(devs: &HashMap<String, LinuxNetDevice>) -> Vec<(&String, &LinuxNetDevice)> {
    let mut keys: Vec<&String> = devs.keys().collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| Some((k, devs.get(k)?)))
        .collect()
}

/// The devices must exist in rt's network namespace (checked before anything is made).
pub fn check_host(devs: &HashMap<String, LinuxNetDevice>) -> Result<(), String> {
    let mut nl = Netlink::open().map_err(|e| format!("linux.netDevices: {e}"))?;
    for (h, _) in sorted(devs) {
        if nl.index_of(h).is_err() {
            return Err(format!(
                "linux.netDevices.{h}: there is no network interface {h:?} in rt's network \
                 namespace"
            ));
        }
    }
    Ok(())
}

/// Move every device into the network namespace of process `pid` (the container's init).
pub fn move_all(devs: &HashMap<String, LinuxNetDevice>, pid: i32) -> Result<(), String> {
    let open = |p: String| {
        nix::fcntl::open(
            p.as_str(),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| format!("linux.netDevices: open {p}: {e}"))
    };
    let target = open(format!("/proc/{pid}/ns/net"))?;
    let mut host = Netlink::open().map_err(|e| format!("linux.netDevices: {e}"))?;
    // Addresses and links are set through a socket of the container's namespace: a netlink
    // socket belongs to the namespace it was made in, so rt enters it just to make one.
    let own = open("/proc/thread-self/ns/net".into())?;
    let enter = |fd: &OwnedFd| {
        nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("linux.netDevices: setns: {e}"))
    };
    enter(&target)?;
    let inside = Netlink::open();
    enter(&own)?;
    let mut inside = inside.map_err(|e| format!("linux.netDevices: {e}"))?;
    for (name, d) in sorted(devs) {
        let new = d
            .name()
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(name);
        move_one(&mut host, &mut inside, &target, name, new)
            .map_err(|e| format!("linux.netDevices.{name}: {e}"))?;
    }
    Ok(())
}

fn move_one(
    host: &mut Netlink,
    inside: &mut Netlink,
    target: &OwnedFd,
    name: &str,
    new: &str,
) -> Result<(), String> {
    let index = host
        .index_of(name)
        .map_err(|e| format!("find it in rt's network namespace: {e}"))?;
    // The kernel renames a device only after moving it: a clash found then would leave it in
    // the container's namespace (and lose a virtual one with it), so it is checked first.
    if !new.contains('%') && inside.index_of(new).is_ok() {
        return Err(format!(
            "the container's network namespace has a device named {new:?} already"
        ));
    }
    let addrs = host
        .addresses(index)
        .map_err(|e| format!("list addresses: {e}"))?;
    let mut msg = ifinfomsg(index, 0, 0);
    attr(
        &mut msg,
        IFLA_NET_NS_FD,
        &(target.as_raw_fd() as u32).to_ne_bytes(),
    );
    attr(&mut msg, IFLA_IFNAME, &c_name(new));
    host.request(libc::RTM_NEWLINK, NLM_F_ACK, &msg)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EEXIST) => {
                format!("the container's network namespace has a device named {new:?} already")
            }
            _ => format!("move to the container's network namespace as {new:?}: {e}"),
        })?;
    // The kernel keeps the index unless the namespace uses it; a template name (`eth%d`) is
    // only known by it.
    let moved = if new.contains('%') {
        inside.index_by(ifinfomsg(index, 0, 0))
    } else {
        inside.index_of(new)
    }
    .map_err(|e| format!("find {new:?} in the container's namespace: {e}"))?;
    for a in addrs {
        let mut m = a;
        m[4..8].copy_from_slice(&moved.to_ne_bytes());
        inside
            .request(libc::RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &m)
            .map_err(|e| format!("add an address in the container's namespace: {e}"))?;
    }
    inside
        .request(
            libc::RTM_NEWLINK,
            NLM_F_ACK,
            &ifinfomsg(moved, IFF_UP, IFF_UP),
        )
        .map_err(|e| format!("set it up in the container's namespace: {e}"))?;
    Ok(())
}

fn c_name(n: &str) -> Vec<u8> {
    let mut b = n.as_bytes().to_vec();
    b.push(0);
    b
}

/// struct ifinfomsg: family, pad, type, index, flags, change.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut m = vec![0u8; 4];
    m.extend_from_slice(&index.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&change.to_ne_bytes());
    m
}

/// Append a struct rtattr (length, type, payload, padding to 4 bytes).
fn attr(m: &mut Vec<u8>, typ: u16, payload: &[u8]) {
    m.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    m.extend_from_slice(&typ.to_ne_bytes());
    m.extend_from_slice(payload);
    m.resize(m.len().next_multiple_of(4), 0);
}

/// The attributes of a message body after its fixed header of `skip` bytes.
fn attrs(body: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = body.get(skip..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let typ = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            break;
        }
        out.push((typ, &rest[4..len]));
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    out
}

/// A NETLINK_ROUTE socket of the namespace it was made in.
struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    fn open() -> std::io::Result<Netlink> {
        // SAFETY: socket(2) with constant arguments; the fd is owned at once below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket(2) and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd, seq: 0 })
    }

    /// Send one request and gather the bodies of its answers, up to the ack, the end of a dump
    /// or a single answer; an error answer is that errno.
    fn request(&mut self, typ: u16, flags: u16, body: &[u8]) -> std::io::Result<Vec<Vec<u8>>> {
        self.seq += 1;
        let mut m = Vec::with_capacity(16 + body.len());
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&typ.to_ne_bytes());
        m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        // The kernel's port is 0; the socket's own is bound on this first send.
        nix::sys::socket::sendto(
            self.fd.as_raw_fd(),
            &m,
            &nix::sys::socket::NetlinkAddr::new(0, 0),
            nix::sys::socket::MsgFlags::empty(),
        )?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            )?;
            let mut rest = &buf[..n];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let mflags = u16::from_ne_bytes([rest[6], rest[7]]);
                let seq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
                if len < 16 || len > rest.len() {
                    return Err(std::io::Error::from_raw_os_error(libc::EBADMSG));
                }
                let msg_body = &rest[16..len];
                rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
                if seq != self.seq {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = msg_body
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(-libc::EBADMSG);
                        return match code {
                            0 => Ok(out),
                            c => Err(std::io::Error::from_raw_os_error(-c)),
                        };
                    }
                    NLMSG_DONE => return Ok(out),
                    _ => out.push(msg_body.to_vec()),
                }
                if mflags & NLM_F_MULTI == 0 && flags & (NLM_F_ACK | NLM_F_DUMP) == 0 {
                    return Ok(out);
                }
            }
        }
    }

    /// The index of the interface named `name` in the socket's namespace.
    fn index_of(&mut self, name: &str) -> std::io::Result<u32> {
        let mut m = ifinfomsg(0, 0, 0);
        attr(&mut m, IFLA_IFNAME, &c_name(name));
        self.index_by(m)
    }

    /// The index of the interface an RTM_GETLINK request `m` finds.
    fn index_by(&mut self, m: Vec<u8>) -> std::io::Result<u32> {
        self.request(libc::RTM_GETLINK, 0, &m)?
            .first()
            .and_then(|m| m.get(4..8))
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// The permanent, global-scope addresses of interface `index`, as RTM_NEWADDR bodies
    /// (struct ifaddrmsg and the address attributes) ready to be sent again.
    fn addresses(&mut self, index: u32) -> std::io::Result<Vec<Vec<u8>>> {
        let dump = self.request(libc::RTM_GETADDR, NLM_F_DUMP, &[0u8; 8])?;
        Ok(dump
            .iter()
            .filter(|m| m.len() >= 8)
            .filter(|m| u32::from_ne_bytes([m[4], m[5], m[6], m[7]]) == index)
            .filter(|m| m[2] & IFA_F_PERMANENT != 0 && m[3] == RT_SCOPE_UNIVERSE)
            .map(|m| {
                // family, prefix length, no flags, scope; the index is set after the move.
                let mut a = vec![m[0], m[1], 0, m[3], 0, 0, 0, 0];
                for (typ, p) in attrs(m, 8) {
                    if matches!(typ, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST) {
                        attr(&mut a, typ, p);
                    }
                }
                a
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_as_the_kernel_takes_them() {
        for ok in ["eth0", "rtv0", "a", "eth%d", "123456789012345", "veth.1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "1234567890123456",
            "tab\t",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn attributes_round_trip() {
        let mut m = ifinfomsg(7, IFF_UP, IFF_UP);
        attr(&mut m, IFLA_IFNAME, &c_name("eth7"));
        attr(&mut m, IFLA_NET_NS_FD, &3u32.to_ne_bytes());
        assert_eq!(m.len() % 4, 0);
        let a = attrs(&m, 16);
        assert_eq!(
            a,
            vec![
                (IFLA_IFNAME, &b"eth7\0"[..]),
                (IFLA_NET_NS_FD, &[3, 0, 0, 0][..])
            ]
        );
    }

    #[test]
    fn problems_name_the_field() {
        let linux = |v: serde_json::Value| -> Linux { serde_json::from_value(v).unwrap() };
        let ok = linux(serde_json::json!({"netDevices": {"rtv0": {"name": "eth7"}}}));
        assert!(problems(&ok, true).is_empty());
        let p = problems(&ok, false);
        assert!(
            p.len() == 1 && p[0].starts_with("linux.netDevices:"),
            "{p:?}"
        );
        let bad = linux(serde_json::json!({"netDevices": {"a/b": {}, "rtv0": {"name": "x y"}}}));
        let p = problems(&bad, true);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("linux.netDevices: \"a/b\""), "{p:?}");
        assert!(p[1].starts_with("linux.netDevices.rtv0.name:"), "{p:?}");
    }
}
