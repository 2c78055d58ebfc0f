//! The handful of CRIU RPC messages rt exchanges with `criu swrk` (CRIU's images/rpc.proto,
//! proto2), encoded and decoded by hand: a request is a few dozen varint and length-delimited
//! fields, and a protobuf crate would cost the static binary far more than this file.
//!
//! Field numbers are rpc.proto's. Booleans are sent only when true: CRIU reads every one of
//! them as `has_x && x`, or as a plain assignment that defaults to false.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// `criu_req_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqType {
    Dump = 1,
    Restore = 2,
    PreDump = 4,
    Notify = 6,
}

impl ReqType {
    fn from_u64(v: u64) -> Option<ReqType> {
        Some(match v {
            1 => ReqType::Dump,
            2 => ReqType::Restore,
            4 => ReqType::PreDump,
            6 => ReqType::Notify,
            _ => return None,
        })
    }

    /// rpc.proto's name, as runc's errors show it.
    pub fn name(self) -> &'static str {
        match self {
            ReqType::Dump => "DUMP",
            ReqType::Restore => "RESTORE",
            ReqType::PreDump => "PRE_DUMP",
            ReqType::Notify => "NOTIFY",
        }
    }
}

/// `criu_cg_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgMode {
    Ignore = 0,
    Soft = 3,
    Full = 4,
    Strict = 5,
}

/// `criu_opts` booleans rt sets, by field number.
#[derive(Clone, Copy)]
pub enum Flag {
    LeaveRunning = 3,
    ExtUnixSk = 4,
    TcpEstablished = 5,
    EvasiveDevices = 6,
    ShellJob = 7,
    FileLocks = 8,
    NotifyScripts = 12,
    TrackMem = 15,
    AutoDedup = 16,
    ManageCgroups = 24,
    RstSibling = 26,
    OrphanPtsMaster = 50,
}

/// `criu_opts` integers (int32, uint32 and enums), by field number.
#[derive(Clone, Copy)]
pub enum Int {
    Pid = 2,
    LogLevel = 9,
    WorkDirFd = 17,
    ManageCgroupsMode = 34,
    EmptyNs = 38,
}

/// `criu_opts` strings (repeated ones may be given more than once), by field number.
#[derive(Clone, Copy)]
pub enum Text {
    LogFile = 10,
    Root = 13,
    ParentImg = 14,
    External = 37,
    FreezeCgroup = 44,
    ConfigFile = 51,
    LsmProfile = 53,
    LsmMountContext = 63,
}

/// `criu_opts` repeated messages of two strings: ext_mount_map (key, val), cgroup_root
/// (ctrl, path), join_namespace (ns, ns_file).
#[derive(Clone, Copy)]
pub enum Pair {
    ExtMnt = 23,
    CgRoot = 25,
    JoinNs = 39,
}

/// A `criu_opts` message, written field by field as rt decides them (protobuf takes fields in
/// any order). False booleans are not sent: CRIU reads each as `has_x && x` or a default of
/// false, and its configuration file overrides what is sent anyway.
pub struct Opts(Writer);

impl Opts {
    /// `images_dir_fd` is the one required field.
    pub fn new(images_dir_fd: i32) -> Opts {
        let mut w = Writer::default();
        w.int(1, images_dir_fd.into());
        Opts(w)
    }

    pub fn flag(&mut self, f: Flag, v: bool) {
        if v {
            self.0.int(f as u32, 1);
        }
    }

    pub fn int(&mut self, f: Int, v: i64) {
        self.0.int(f as u32, v);
    }

    /// Strings and paths alike (paths go as their bytes, as CRIU takes them).
    pub fn text(&mut self, f: Text, v: impl AsRef<OsStr>) {
        self.0.bytes(f as u32, v.as_ref().as_bytes());
    }

    pub fn pair(&mut self, f: Pair, a: impl AsRef<OsStr>, b: impl AsRef<OsStr>) {
        let mut m = Writer::default();
        m.bytes(1, a.as_ref().as_bytes());
        m.bytes(2, b.as_ref().as_bytes());
        self.0.bytes(f as u32, &m.0);
    }

    /// `inherit_fd` (swrk only): criu's own `fd` stands for the file recorded as `key`.
    pub fn inherit_fd(&mut self, key: &str, fd: i32) {
        let mut m = Writer::default();
        m.bytes(1, key.as_bytes());
        m.int(2, fd.into());
        self.0.bytes(27, &m.0);
    }

    /// `ps`: send the memory to a page server.
    pub fn page_server(&mut self, address: &str, port: i32) {
        let mut m = Writer::default();
        m.bytes(1, address.as_bytes());
        m.int(2, port.into());
        self.0.bytes(11, &m.0);
    }
}

/// `criu_req`: its type, and the options or the acknowledgement of a notification.
pub fn request(kind: ReqType, opts: Option<&Opts>) -> Vec<u8> {
    let mut w = Writer::default();
    w.int(1, kind as i64);
    match opts {
        Some(o) => w.bytes(2, &o.0.0),
        // A notification's answer: `notify_success`.
        None => w.int(3, 1),
    }
    w.0
}

/// `criu_resp`, the fields rt reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resp {
    pub kind: Option<ReqType>,
    pub success: bool,
    /// `restore.pid`.
    pub restore_pid: Option<i32>,
    /// `notify.script` and `notify.pid`.
    pub notify: Option<(String, i32)>,
    pub cr_errno: i32,
    pub cr_errmsg: Option<String>,
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    /// int32/uint32/enum: a negative int32 is sign-extended to ten bytes, as protobuf does.
    fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        self.varint(v as u64);
    }

    fn bytes(&mut self, field: u32, v: &[u8]) {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
    }
}

/// One decoded field: a varint or a length-delimited payload (fixed-size ones are skipped).
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Iterates over a message's fields; stops (yielding an error) at the first malformed byte.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = || -> Option<(u32, Value<'a>)> {
            let key = self.varint()?;
            let num = u32::try_from(key >> 3).ok()?;
            let value = match key & 7 {
                0 => Value::Varint(self.varint()?),
                1 => self.skip(8).map(|_| Value::Fixed)?,
                2 => {
                    let len = usize::try_from(self.varint()?).ok()?;
                    Value::Bytes(self.skip(len)?)
                }
                5 => self.skip(4).map(|_| Value::Fixed)?,
                _ => return None,
            };
            Some((num, value))
        }();
        match field {
            Some(f) => Some(Ok(f)),
            None => {
                self.0 = &[];
                Some(Err(DecodeError))
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed message from criu")]
pub struct DecodeError;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Resp {
    pub fn decode(b: &[u8]) -> Result<Resp, DecodeError> {
        let mut r = Resp::default();
        for field in Fields(b) {
            match field? {
                (1, Value::Varint(v)) => r.kind = ReqType::from_u64(v),
                (2, Value::Varint(v)) => r.success = v != 0,
                (4, Value::Bytes(m)) => {
                    for f in Fields(m) {
                        if let (1, Value::Varint(v)) = f? {
                            r.restore_pid = Some(v as i32);
                        }
                    }
                }
                (5, Value::Bytes(m)) => {
                    let (mut script, mut pid) = (String::new(), 0);
                    for f in Fields(m) {
                        match f? {
                            (1, Value::Bytes(s)) => script = text(s),
                            (2, Value::Varint(v)) => pid = v as i32,
                            _ => {}
                        }
                    }
                    r.notify = Some((script, pid));
                }
                (7, Value::Varint(v)) => r.cr_errno = v as i32,
                (9, Value::Bytes(s)) => r.cr_errmsg = Some(text(s)),
                _ => {}
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of an encoded message, with nested messages left as bytes.
    fn fields(b: &[u8]) -> Vec<(u32, Result<u64, Vec<u8>>)> {
        Fields(b)
            .map(|f| match f.unwrap() {
                (n, Value::Varint(v)) => (n, Ok(v)),
                (n, Value::Bytes(b)) => (n, Err(b.to_vec())),
                (n, Value::Fixed) => (n, Ok(u64::MAX)),
            })
            .collect()
    }

    #[test]
    fn varints_round_trip_and_negative_int32_takes_ten_bytes() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut w = Writer::default();
            w.varint(v);
            assert_eq!(Fields(&w.0).varint(), Some(v));
        }
        let mut w = Writer::default();
        w.int(1, -1);
        assert_eq!(w.0.len(), 11);
        assert_eq!(fields(&w.0), [(1, Ok(u64::MAX))]);
    }

    #[test]
    fn request_bytes_match_protoc() {
        // What `protoc --encode=criu_req rpc.proto` makes of: type: DUMP opts { images_dir_fd: 5
        //   pid: 300 leave_running: true log_file: "dump.log" ext_mnt { key: "/a" val: "/b" }
        //   manage_cgroups_mode: SOFT empty_ns: 1073741824 }
        // (the other byte strings in these tests were checked the same way).
        let mut o = Opts::new(5);
        o.int(Int::Pid, 300);
        o.flag(Flag::LeaveRunning, true);
        o.flag(Flag::ShellJob, false);
        o.text(Text::LogFile, "dump.log");
        o.pair(Pair::ExtMnt, "/a", "/b");
        o.int(Int::ManageCgroupsMode, CgMode::Soft as i64);
        o.int(Int::EmptyNs, 0x4000_0000);
        let want: &[u8] = &[
            0x08, 0x01, 0x12, 0x26, 0x08, 0x05, 0x10, 0xac, 0x02, 0x18, 0x01, 0x52, 0x08, b'd',
            b'u', b'm', b'p', b'.', b'l', b'o', b'g', 0xba, 0x01, 0x08, 0x0a, 0x02, b'/', b'a',
            0x12, 0x02, b'/', b'b', 0x90, 0x02, 0x03, 0xb0, 0x02, 0x80, 0x80, 0x80, 0x80, 0x04,
        ];
        assert_eq!(request(ReqType::Dump, Some(&o)), want);
        // type: NOTIFY notify_success: true
        assert_eq!(request(ReqType::Notify, None), [0x08, 0x06, 0x18, 0x01]);
    }

    #[test]
    fn every_field_lands_on_its_number() {
        let mut o = Opts::new(3);
        for f in [
            Flag::LeaveRunning,
            Flag::ExtUnixSk,
            Flag::TcpEstablished,
            Flag::EvasiveDevices,
            Flag::ShellJob,
            Flag::FileLocks,
            Flag::NotifyScripts,
            Flag::TrackMem,
            Flag::AutoDedup,
            Flag::ManageCgroups,
            Flag::RstSibling,
            Flag::OrphanPtsMaster,
        ] {
            o.flag(f, true);
        }
        for f in [
            Int::Pid,
            Int::LogLevel,
            Int::WorkDirFd,
            Int::ManageCgroupsMode,
            Int::EmptyNs,
        ] {
            o.int(f, 1);
        }
        for f in [
            Text::LogFile,
            Text::Root,
            Text::ParentImg,
            Text::External,
            Text::FreezeCgroup,
            Text::ConfigFile,
            Text::LsmProfile,
            Text::LsmMountContext,
        ] {
            o.text(f, "x");
        }
        for f in [Pair::ExtMnt, Pair::CgRoot, Pair::JoinNs] {
            o.pair(f, "k", "v");
        }
        o.inherit_fd("pipe:[1]", 1);
        o.page_server("h", 9);
        let got = fields(&o.0.0);
        let nums: Vec<u32> = got.iter().map(|f| f.0).collect();
        assert_eq!(
            nums,
            [
                1, 3, 4, 5, 6, 7, 8, 12, 15, 16, 24, 26, 50, 2, 9, 17, 34, 38, 10, 13, 14, 37, 44,
                51, 53, 63, 23, 25, 39, 27, 11
            ]
        );
        assert_eq!(
            fields(got[29].1.as_ref().unwrap_err()),
            [(1, Err(b"pipe:[1]".to_vec())), (2, Ok(1))]
        );
        assert_eq!(
            fields(got[26].1.as_ref().unwrap_err()),
            [(1, Err(b"k".to_vec())), (2, Err(b"v".to_vec()))]
        );
        // False booleans are not sent at all.
        let mut o = Opts::new(0);
        o.flag(Flag::ShellJob, false);
        assert_eq!(fields(&o.0.0), [(1, Ok(0))]);
    }

    #[test]
    fn responses_decode() {
        // type: RESTORE success: true restore { pid: 4242 }
        let r = Resp::decode(&[0x08, 0x02, 0x10, 0x01, 0x22, 0x03, 0x08, 0x92, 0x21]).unwrap();
        assert_eq!(
            (r.kind, r.success, r.restore_pid),
            (Some(ReqType::Restore), true, Some(4242))
        );
        // type: NOTIFY success: true notify { script: "post-restore" pid: 7 }
        let mut b = vec![0x08, 0x06, 0x10, 0x01, 0x2a, 16, 0x0a, 12];
        b.extend_from_slice(b"post-restore");
        b.extend_from_slice(&[0x10, 0x07]);
        let r = Resp::decode(&b).unwrap();
        assert_eq!(r.notify, Some(("post-restore".into(), 7)));
        // type: VERSION (unknown to rt) success: true version { major_number: 3 ... }: skipped
        let r = Resp::decode(&[
            0x08, 0x0a, 0x10, 0x01, 0x52, 0x06, 0x08, 3, 0x10, 17, 0x20, 1,
        ])
        .unwrap();
        assert_eq!((r.kind, r.success), (None, true));
        // type: DUMP success: false cr_errno: 22 cr_errmsg: "x" and an unknown fixed32 field
        let r = Resp::decode(&[
            0x08, 0x01, 0x10, 0x00, 0x38, 22, 0x4a, 1, b'x', 0x7d, 0, 0, 0, 0,
        ])
        .unwrap();
        assert_eq!(
            (r.success, r.cr_errno, r.cr_errmsg.as_deref()),
            (false, 22, Some("x"))
        );
    }

    #[test]
    fn malformed_responses_are_errors_not_panics() {
        for bad in [
            &[0x08][..],                   // varint cut short
            &[0x12, 0x05, 0x01][..],       // length past the end
            &[0x0b][..],                   // wire type 3 (groups)
            &[0xff; 11][..],               // varint longer than ten bytes
            &[0x22, 0x02, 0x08, 0x80][..], // nested message cut short
        ] {
            assert_eq!(Resp::decode(bad), Err(DecodeError), "{bad:?}");
        }
        assert_eq!(Resp::decode(&[]).unwrap(), Resp::default());
    }
}
