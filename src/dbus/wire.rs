//! The D-Bus wire format, as the D-Bus specification's "Message Protocol" section defines it:
//! values, their signatures and alignment, and the message header. Only little-endian messages
//! are made and read: every peer rt talks to (dbus-daemon, systemd) runs on the same host and
//! writes in its byte order, and rt is built for little-endian targets only.

use super::{DbusError, Result};

/// Messages larger than this are refused (the specification allows 128 MiB; systemd's replies
/// to rt are a few hundred bytes).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Containers nested deeper than this are refused (the specification allows 64).
const MAX_DEPTH: usize = 32;

/// One D-Bus value (of the types systemd's and the bus's methods use: no 16-bit integers,
/// doubles or fds). A container carries what its signature needs: an array its element
/// signature (it may be empty), a variant its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Str(String),
    Path(String),
    Sig(String),
    /// Element signature and elements (a dict is an array of `{..}` entries, read as structs).
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_string())
    }

    pub fn variant(v: Value) -> Value {
        Value::Variant(Box::new(v))
    }

    pub fn signature(&self) -> String {
        match self {
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(items) => {
                let inner: String = items.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            v => char::from(v.code()).to_string(),
        }
    }

    fn code(&self) -> u8 {
        match self {
            Value::Byte(_) => b'y',
            Value::Bool(_) => b'b',
            Value::I32(_) => b'i',
            Value::U32(_) => b'u',
            Value::I64(_) => b'x',
            Value::U64(_) => b't',
            Value::Str(_) => b's',
            Value::Path(_) => b'o',
            Value::Sig(_) => b'g',
            Value::Array(..) => b'a',
            Value::Struct(_) => b'(',
            Value::Variant(_) => b'v',
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }
}

/// The alignment of a type by its first signature character.
fn align_of(code: u8) -> usize {
    match code {
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' => 4,
        b'x' | b't' | b'(' | b'{' => 8,
        _ => 1,
    }
}

/// Appends values to a buffer whose offset 0 is 8-aligned in the message (the header and the
/// body both are), so alignment is taken from the buffer's own length.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn put(&mut self, v: &Value) {
        self.pad(align_of(v.code()));
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I32(n) => self.buf.extend_from_slice(&n.to_le_bytes()),
            Value::U32(n) => self.u32(*n),
            Value::I64(n) => self.buf.extend_from_slice(&n.to_le_bytes()),
            Value::U64(n) => self.buf.extend_from_slice(&n.to_le_bytes()),
            Value::Str(s) | Value::Path(s) => {
                self.u32(s.len() as u32);
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
            }
            Value::Sig(s) => {
                self.buf.push(s.len() as u8);
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
            }
            Value::Array(elem, items) => {
                let len_at = self.buf.len();
                self.u32(0);
                // The length counts from the first element, after its padding.
                self.pad(align_of(elem.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for i in items {
                    self.put(i);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(items) => items.iter().for_each(|i| self.put(i)),
            Value::Variant(inner) => {
                self.put(&Value::Sig(inner.signature()));
                self.put(inner);
            }
        }
    }
}

fn bad(why: impl Into<String>) -> DbusError {
    DbusError::Protocol(why.into())
}

/// The length of the single complete type at the start of `sig`.
fn single_type_len(sig: &[u8]) -> Result<usize> {
    let mut depth = 0usize;
    for (i, c) in sig.iter().enumerate() {
        match c {
            b'a' => continue,
            b'(' | b'{' => depth += 1,
            b')' | b'}' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| bad("unbalanced signature"))?
            }
            b'y' | b'b' | b'i' | b'u' | b'x' | b't' | b's' | b'o' | b'g' | b'v' => {}
            _ => return Err(bad(format!("unknown type code {:?}", char::from(*c)))),
        }
        if depth == 0 {
            return Ok(i + 1);
        }
        if depth > MAX_DEPTH {
            break;
        }
    }
    Err(bad("incomplete signature"))
}

/// Reads values from a buffer whose offset 0 is 8-aligned in the message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| bad("message truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn pad(&mut self, align: usize) -> Result<()> {
        let skip = (align - self.pos % align) % align;
        self.take(skip).map(|_| ())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.pad(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let b = self.take(len + 1)?;
        if b[len] != 0 {
            return Err(bad("string without its nul"));
        }
        String::from_utf8(b[..len].to_vec()).map_err(|_| bad("string is not utf-8"))
    }

    /// Every value of the signature `sig`, in order.
    pub fn read_all(&mut self, sig: &str) -> Result<Vec<Value>> {
        let mut rest = sig.as_bytes();
        let mut out = Vec::new();
        while !rest.is_empty() {
            let n = single_type_len(rest)?;
            out.push(self.read(&rest[..n])?);
            rest = &rest[n..];
        }
        Ok(out)
    }

    /// One value of the single complete type `sig`.
    fn read(&mut self, sig: &[u8]) -> Result<Value> {
        Ok(match sig[0] {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                n => return Err(bad(format!("boolean {n}"))),
            },
            b'i' => Value::I32(i32::from_le_bytes(self.fixed()?)),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(i64::from_le_bytes(self.fixed()?)),
            b't' => Value::U64(u64::from_le_bytes(self.fixed()?)),
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let s = self.text(len)?;
                if sig[0] == b'o' {
                    Value::Path(s)
                } else {
                    Value::Str(s)
                }
            }
            b'g' => {
                let len = usize::from(self.take(1)?[0]);
                Value::Sig(self.text(len)?)
            }
            b'v' => {
                let len = usize::from(self.take(1)?[0]);
                let inner = self.text(len)?;
                if single_type_len(inner.as_bytes())? != inner.len() {
                    return Err(bad("variant signature is not a single type"));
                }
                let v = self.nested(|r| r.read(inner.as_bytes()))?;
                Value::variant(v)
            }
            b'a' => {
                let len = self.u32()? as usize;
                let elem = &sig[1..];
                self.pad(align_of(elem[0]))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or_else(|| bad("array runs past the message"))?;
                let mut items = Vec::new();
                self.nested(|r| {
                    while r.pos < end {
                        let at = r.pos;
                        items.push(r.read(elem)?);
                        if r.pos == at {
                            return Err(bad("array of empty elements"));
                        }
                    }
                    Ok(())
                })?;
                if self.pos != end {
                    return Err(bad("array length does not match its elements"));
                }
                let elem = String::from_utf8_lossy(elem).into_owned();
                Value::Array(elem, items)
            }
            b'(' | b'{' => {
                self.pad(8)?;
                let inner = &sig[1..sig.len() - 1];
                let inner = std::str::from_utf8(inner).map_err(|_| bad("signature"))?;
                Value::Struct(self.nested(|r| r.read_all(inner))?)
            }
            c => return Err(bad(format!("unknown type code {:?}", char::from(c)))),
        })
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(bad("values nested too deeply"));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }
}

pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

// Header field codes.
const PATH: u8 = 1;
const INTERFACE: u8 = 2;
const MEMBER: u8 = 3;
const ERROR_NAME: u8 = 4;
const REPLY_SERIAL: u8 = 5;
const DESTINATION: u8 = 6;
const SENDER: u8 = 7;
const SIGNATURE: u8 = 8;

/// A message's header fields and its body, undecoded until asked ([`Message::args`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    pub signature: String,
    pub body: Vec<u8>,
}

/// A method call.
pub struct Call<'a> {
    pub destination: Option<&'a str>,
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
    pub args: &'a [Value],
}

impl Call<'_> {
    /// The whole message, numbered `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut body = Writer::default();
        let mut sig = String::new();
        for a in self.args {
            body.put(a);
            sig.push_str(&a.signature());
        }
        let field = |code: u8, v: Value| Value::Struct(vec![Value::Byte(code), Value::variant(v)]);
        let mut fields = vec![
            field(PATH, Value::Path(self.path.to_string())),
            field(INTERFACE, Value::str(self.interface)),
            field(MEMBER, Value::str(self.member)),
        ];
        if let Some(d) = self.destination {
            fields.push(field(DESTINATION, Value::str(d)));
        }
        if !sig.is_empty() {
            fields.push(field(SIGNATURE, Value::Sig(sig)));
        }
        let mut w = Writer::default();
        // Little-endian, no flags, protocol version 1.
        w.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
        w.u32(body.buf.len() as u32);
        w.u32(serial);
        w.put(&Value::Array("(yv)".into(), fields));
        w.pad(8);
        w.buf.extend_from_slice(&body.buf);
        w.buf
    }
}

/// The total length of the message whose first 16 bytes are `head` (0 if they are not yet
/// all there): the fixed header, the fields array padded to 8, then the body.
pub fn message_len(head: &[u8]) -> Result<usize> {
    if head.len() < 16 {
        return Ok(0);
    }
    if head[0] != b'l' {
        return Err(bad(format!(
            "a message in byte order {:?}",
            char::from(head[0])
        )));
    }
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let fields = word(12) as usize;
    let total = 16 + fields.div_ceil(8) * 8 + word(4) as usize;
    if total > MAX_MESSAGE {
        return Err(bad(format!("a message of {total} bytes")));
    }
    Ok(total)
}

impl Message {
    /// Parse one whole message (`message_len` bytes).
    pub fn decode(buf: &[u8]) -> Result<Message> {
        let total = message_len(buf)?;
        if total == 0 || buf.len() < total {
            return Err(bad("message truncated"));
        }
        let mut r = Reader::new(&buf[..total]);
        r.take(4)?;
        let body_len = r.u32()? as usize;
        let mut m = Message {
            kind: buf[1],
            serial: r.u32()?,
            ..Default::default()
        };
        let Value::Array(_, fields) = r.read(b"a(yv)")? else {
            return Err(bad("header fields"));
        };
        for f in fields {
            let Value::Struct(mut kv) = f else { continue };
            let (Some(Value::Variant(v)), Some(Value::Byte(code))) = (kv.pop(), kv.pop()) else {
                continue;
            };
            let text = v.as_str().map(str::to_string);
            match (code, *v) {
                (PATH, _) => m.path = text,
                (INTERFACE, _) => m.interface = text,
                (MEMBER, _) => m.member = text,
                (ERROR_NAME, _) => m.error_name = text,
                (REPLY_SERIAL, Value::U32(n)) => m.reply_serial = Some(n),
                (DESTINATION, _) => m.destination = text,
                (SENDER, _) => m.sender = text,
                (SIGNATURE, _) => m.signature = text.unwrap_or_default(),
                _ => {}
            }
        }
        r.pad(8)?;
        m.body = r.take(body_len)?.to_vec();
        Ok(m)
    }

    /// The body's values, by the message's signature.
    pub fn args(&self) -> Result<Vec<Value>> {
        Reader::new(&self.body).read_all(&self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn prop(name: &str, v: Value) -> Value {
        Value::Struct(vec![Value::str(name), Value::variant(v)])
    }

    /// The body GLib's encoder (gdbus call, captured from a private dbus-daemon with
    /// dbus-monitor --binary) made for a StartTransientUnit call with these arguments.
    const GLIB_START_TRANSIENT_UNIT: &str = concat!(
        "0a00000072742d782e73636f70650000070000007265706c61636500600100000b0000004465736372697074",
        "696f6e00017300000e000000727420636f6e7461696e65722078000005000000536c69636500017300000000",
        "0c00000073797374656d2e736c69636500000000000000000800000044656c65676174650001620001000000",
        "000000000400000050494473000261750000000004000000d2040000090000004d656d6f72794d6178000174",
        "000000000000000000000004000000001200000043505551756f7461506572536563555365630001740000",
        "000000000020a10700000000000b000000416c6c6f7765644350557300026179000100000002000000000000",
        "000b000000446576696365416c6c6f7700056128737329000000000000000000000b00000044657669636541",
        "6c6c6f7700056128737329000038000000000000000d0000002f6465762f636861722f313a33000000030000",
        "0072776d000000000008000000636861722d707473000000000300000072776d000000000000000000",
    );

    fn start_transient_unit_args() -> Vec<Value> {
        let pair = |a: &str, b: &str| Value::Struct(vec![Value::str(a), Value::str(b)]);
        vec![
            Value::str("rt-x.scope"),
            Value::str("replace"),
            Value::Array(
                "(sv)".into(),
                vec![
                    prop("Description", Value::str("rt container x")),
                    prop("Slice", Value::str("system.slice")),
                    prop("Delegate", Value::Bool(true)),
                    prop("PIDs", Value::Array("u".into(), vec![Value::U32(1234)])),
                    prop("MemoryMax", Value::U64(64 << 20)),
                    prop("CPUQuotaPerSecUSec", Value::U64(500_000)),
                    prop(
                        "AllowedCPUs",
                        Value::Array("y".into(), vec![Value::Byte(2)]),
                    ),
                    prop("DeviceAllow", Value::Array("(ss)".into(), vec![])),
                    prop(
                        "DeviceAllow",
                        Value::Array(
                            "(ss)".into(),
                            vec![pair("/dev/char/1:3", "rwm"), pair("char-pts", "rwm")],
                        ),
                    ),
                ],
            ),
            Value::Array("(sa(sv))".into(), vec![]),
        ]
    }

    #[test]
    fn encodes_as_glib_does() {
        let mut w = Writer::default();
        let args = start_transient_unit_args();
        args.iter().for_each(|a| w.put(a));
        assert_eq!(w.buf, hex(GLIB_START_TRANSIENT_UNIT));
        let sig: String = args.iter().map(Value::signature).collect();
        assert_eq!(sig, "ssa(sv)a(sa(sv))");
        // And reads back to the same values.
        assert_eq!(Reader::new(&w.buf).read_all(&sig).unwrap(), args);
    }

    /// A JobRemoved signal as libdbus (dbus-send --type=signal) made it, with the sender field
    /// the bus added, as dbus-monitor --binary captured it.
    const LIBDBUS_JOB_REMOVED: &str = concat!(
        "6c04010141000000010000009800000001016f00190000002f6f72672f667265656465736b746f702f73797374",
        "656d64310000000000000002017300200000006f72672e667265656465736b746f702e73797374656d64312e4d",
        "616e616765720000000000000000030173000a0000004a6f6252656d6f7665640000000000000801670004756f",
        "737300000000000000070173000f0000003a6e6f742e6163746976652e79657400070000001f0000002f6f7267",
        "2f667265656465736b746f702f73797374656d64312f6a6f622f37000a00000072742d782e73636f7065000004",
        "000000646f6e6500",
    );

    #[test]
    fn decodes_what_libdbus_sends() {
        let raw = hex(LIBDBUS_JOB_REMOVED);
        assert_eq!(message_len(&raw[..16]).unwrap(), raw.len());
        let m = Message::decode(&raw).unwrap();
        assert_eq!(m.kind, SIGNAL);
        assert_eq!(m.serial, 1);
        assert_eq!(m.path.as_deref(), Some("/org/freedesktop/systemd1"));
        assert_eq!(
            m.interface.as_deref(),
            Some("org.freedesktop.systemd1.Manager")
        );
        assert_eq!(m.member.as_deref(), Some("JobRemoved"));
        assert_eq!(m.sender.as_deref(), Some(":not.active.yet"));
        assert_eq!(
            m.args().unwrap(),
            vec![
                Value::U32(7),
                Value::Path("/org/freedesktop/systemd1/job/7".into()),
                Value::str("rt-x.scope"),
                Value::str("done"),
            ]
        );
    }

    #[test]
    fn a_call_reads_back() {
        let args = start_transient_unit_args();
        let call = Call {
            destination: Some("org.freedesktop.systemd1"),
            path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager",
            member: "StartTransientUnit",
            args: &args,
        };
        let raw = call.encode(9);
        let m = Message::decode(&raw).unwrap();
        assert_eq!((m.kind, m.serial), (METHOD_CALL, 9));
        assert_eq!(m.member.as_deref(), Some("StartTransientUnit"));
        assert_eq!(m.destination.as_deref(), Some("org.freedesktop.systemd1"));
        assert_eq!(m.signature, "ssa(sv)a(sa(sv))");
        assert_eq!(m.body, hex(GLIB_START_TRANSIENT_UNIT));
        assert_eq!(m.args().unwrap(), args);
    }

    #[test]
    fn refuses_malformed_input() {
        let raw = hex(LIBDBUS_JOB_REMOVED);
        // Every truncation is an error, never a panic.
        for n in 0..raw.len() {
            assert!(Message::decode(&raw[..n]).is_err(), "{n} bytes");
        }
        let mut big_endian = raw.clone();
        big_endian[0] = b'B';
        assert!(message_len(&big_endian).is_err());
        // A body length past the limit.
        let mut huge = raw.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(message_len(&huge).is_err());
        let read = |sig: &str, body: &[u8]| Reader::new(body).read_all(sig);
        assert!(
            read("b", &[2, 0, 0, 0]).is_err(),
            "a boolean must be 0 or 1"
        );
        assert!(read("s", &[1, 0, 0, 0, b'a', 1]).is_err(), "no nul");
        assert!(read("s", &[1, 0, 0, 0, 0xff, 0]).is_err(), "not utf-8");
        assert!(read("ay", &[9, 0, 0, 0, 1]).is_err(), "array past the end");
        assert!(read("z", &[0]).is_err(), "unknown type");
        assert!(read("a(", &[0, 0, 0, 0]).is_err(), "bad signature");
        assert!(
            read("a()", &[8, 0, 0, 0, 0, 0, 0, 0]).is_err(),
            "empty elements"
        );
        // A variant holding a variant holding ...: refused past the depth limit.
        let mut deep = Vec::new();
        for _ in 0..40 {
            deep.extend_from_slice(&[1, b'v', 0]);
        }
        deep.extend_from_slice(&[1, b'y', 0, 7]);
        assert!(read("v", &deep).is_err());
        assert_eq!(
            read("v", &[1, b'y', 0, 7]).unwrap(),
            vec![Value::variant(Value::Byte(7))]
        );
    }
}
