//! Compiled filters cached under `--root`, so a profile like podman's is compiled once and
//! later creates and execs only read it back.
//!
//! An entry's file name is a 64-bit hash of its key, but the hash only finds the file:
//! the entry stores the whole key and is used only when that matches the current key byte for
//! byte, so neither a hash collision nor a stale, corrupt or planted file can make rt install
//! the filter of another profile. Anything wrong with an entry is a miss: the profile is
//! compiled as if there were no cache, and the entry rewritten. The cache never fails a
//! create or an exec.
//!
//! The key is the profile as serde_json serializes it (oci-spec's seccomp types hold no maps,
//! so equal profiles give equal bytes), after a header naming everything else the compiler's
//! output depends on: the entry format, rt's version and commit, a digest of the compiler's
//! sources (build.rs; the commit misses uncommitted edits) and the target. Nothing at run
//! time is: `compile` reads no kernel state, file or environment (the SPEC_ALLOW fallback
//! happens at install).
//!
//! Entry layout, integers little-endian:
//!
//! ```text
//! magic "rtseccmp" | format u32 | key_len u32 | key
//! flags u64 | optional_flags u64 | listener_path opt | listener_metadata opt
//! insn_count u32 | insn_count x (code u16, jt u8, jf u8, k u32)
//! hash64 of everything before it: u64
//! ```
//!
//! where `opt` is a u8 (0 = none, 1 = some) followed, when some, by a u32 length and bytes.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::hash::{DefaultHasher, Hasher};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat, renameat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use oci_spec::runtime::LinuxSeccomp;
use seccompiler::sock_filter;

use super::{BPF_MAXINSNS, CompiledSeccomp, SeccompError, compile};
use crate::logging;

/// The cache's directory under `--root`. The ':' keeps it from ever being a container id
/// (`state::validate_id`), so no verb can claim, list or delete it as a container.
pub const CACHE_DIR: &str = "seccomp:cache";

/// Bump when the entry layout or the key header changes.
const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"rtseccmp";
/// Entries beyond this are evicted, oldest first: enough for every profile a host really
/// uses, small enough that listing the directory on a miss stays cheap.
const MAX_ENTRIES: usize = 64;
/// Larger files are not read: no real profile comes near (podman's entry is ~14 KB).
const MAX_ENTRY_BYTES: u64 = 8 << 20;
/// Bytes per encoded instruction: u16 + u8 + u8 + u32.
const INSN_BYTES: usize = 8;

#[derive(Debug, thiserror::Error)]
enum CacheError {
    #[error("the profile does not serialize: {0}")]
    Key(#[source] serde_json::Error),
    #[error("{op} {name}: {source}")]
    Sys {
        op: &'static str,
        name: String,
        source: Errno,
    },
    #[error("{op} {name}: {source}")]
    Io {
        op: &'static str,
        name: String,
        source: std::io::Error,
    },
    #[error("not using {0}: not a directory of ours with mode 0700")]
    Insecure(PathBuf),
    #[error("entry {name}: {why}")]
    Corrupt { name: String, why: &'static str },
    #[error("entry {0} holds another profile or build")]
    OtherKey(String),
    #[error("not caching {name}: {size} bytes")]
    TooLarge { name: String, size: usize },
}

fn sys(op: &'static str, name: &str) -> impl FnOnce(Errno) -> CacheError {
    move |source| CacheError::Sys {
        op,
        name: name.to_string(),
        source,
    }
}

fn io(op: &'static str, name: &str) -> impl FnOnce(std::io::Error) -> CacheError {
    move |source| CacheError::Io {
        op,
        name: name.to_string(),
        source,
    }
}

/// `compile`, through the cache in `root_dir` (the `--root`).
pub fn compile_cached(
    root_dir: &Path,
    profile: &LinuxSeccomp,
) -> Result<CompiledSeccomp, SeccompError> {
    let key = match cache_key(profile) {
        Ok(key) => key,
        Err(e) => {
            logging::debug(&format!("seccomp cache: {e}"));
            return compile_logged(profile);
        }
    };
    let dir = root_dir.join(CACHE_DIR);
    let name = entry_name(&key);
    match lookup(&dir, &name, &key) {
        Ok(Some(hit)) => {
            logging::timeline("seccomp: cache hit");
            return Ok(hit);
        }
        Ok(None) => {}
        Err(e) => logging::debug(&format!("seccomp cache: {e}; compiling")),
    }
    let compiled = compile_logged(profile)?;
    if let Err(e) = store(&dir, &name, &key, &compiled) {
        logging::debug(&format!("seccomp cache: {e}"));
    }
    Ok(compiled)
}

fn compile_logged(profile: &LinuxSeccomp) -> Result<CompiledSeccomp, SeccompError> {
    let compiled = compile(profile)?;
    logging::timeline("seccomp: compiled");
    Ok(compiled)
}

/// The header lines hold no newline, so the blank line ends them unambiguously.
fn cache_key(profile: &LinuxSeccomp) -> Result<Vec<u8>, CacheError> {
    let header = format!(
        "rt seccomp cache {FORMAT_VERSION}\nversion {}\ncommit {}\nsource {}\ntarget {} {}\n\n",
        env!("CARGO_PKG_VERSION"),
        env!("RT_COMMIT"),
        env!("RT_SECCOMP_SOURCE"),
        std::env::consts::ARCH,
        if cfg!(target_endian = "little") {
            "le"
        } else {
            "be"
        },
    );
    let mut key = header.into_bytes();
    serde_json::to_writer(&mut key, profile).map_err(CacheError::Key)?;
    Ok(key)
}

/// std's SipHash-1-3 with fixed keys: ~6x faster than a byte-wise FNV-1a over a 14 KB
/// entry. Its algorithm may change between Rust releases; that only turns entries written by
/// an rt built with another toolchain into misses. Nothing trusts it: file names only spread
/// entries, and the trailing checksum only catches accidental damage.
fn hash64(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(data);
    h.finish()
}

fn entry_name(key: &[u8]) -> String {
    format!("{:016x}", hash64(key))
}

/// The cache directory, or None when there is none yet.
fn open_dir(dir: &Path) -> Result<Option<OwnedFd>, CacheError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(sys("open", &dir.display().to_string())(e)),
    };
    let st = fstat(&fd).map_err(sys("stat", &dir.display().to_string()))?;
    // Whoever else could write here could plant a filter: use only a directory as private
    // as rt makes it.
    if st.st_uid != nix::unistd::geteuid().as_raw() || st.st_mode & 0o077 != 0 {
        return Err(CacheError::Insecure(dir.to_path_buf()));
    }
    Ok(Some(fd))
}

fn lookup(dir: &Path, name: &str, key: &[u8]) -> Result<Option<CompiledSeccomp>, CacheError> {
    let Some(dirfd) = open_dir(dir)? else {
        return Ok(None);
    };
    let Some(data) = read_entry(&dirfd, name)? else {
        return Ok(None);
    };
    decode(&data, key, name).map(Some)
}

fn read_entry(dirfd: &OwnedFd, name: &str) -> Result<Option<Vec<u8>>, CacheError> {
    // O_NONBLOCK: a FIFO in place of an entry must not hang create.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match openat(dirfd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(sys("open", name)(e)),
    };
    let st = fstat(&fd).map_err(sys("stat", name))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(corrupt(name, "not a regular file"));
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > MAX_ENTRY_BYTES {
        return Err(corrupt(name, "too large"));
    }
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    File::from(fd)
        .take(MAX_ENTRY_BYTES)
        .read_to_end(&mut data)
        .map_err(io("read", name))?;
    Ok(Some(data))
}

fn corrupt(name: &str, why: &'static str) -> CacheError {
    CacheError::Corrupt {
        name: name.to_string(),
        why,
    }
}

/// Writes the entry (tmp + rename, so readers see the old entry or the whole new one), then
/// trims the directory to its bound.
fn store(dir: &Path, name: &str, key: &[u8], compiled: &CompiledSeccomp) -> Result<(), CacheError> {
    let dirfd = create_dir(dir)?;
    let data = encode(key, compiled);
    if data.len() as u64 > MAX_ENTRY_BYTES {
        return Err(CacheError::TooLarge {
            name: name.to_string(),
            size: data.len(),
        });
    }
    write_entry(&dirfd, name, &data)?;
    evict(&dirfd, MAX_ENTRIES, name)
}

fn create_dir(dir: &Path) -> Result<OwnedFd, CacheError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("create", &dir.display().to_string())(e)),
    }
    // Checked through the fd the entry is then written with, so a swapped directory is
    // either refused or not written to.
    open_dir(dir)?.ok_or_else(|| sys("open", &dir.display().to_string())(Errno::ENOENT))
}

fn write_entry(dirfd: &OwnedFd, name: &str, data: &[u8]) -> Result<(), CacheError> {
    // pid + counter: concurrent rt processes (and test threads) never share a tmp file.
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let tmp = format!(
        "{name}.tmp{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dirfd, tmp.as_str(), flags, Mode::from_bits_truncate(0o600))
        .map_err(sys("create", &tmp))?;
    // No fsync, as for state.json: losing an entry in a crash costs one compile.
    let written = File::from(fd).write_all(data).map_err(io("write", &tmp));
    let renamed = written
        .and_then(|()| renameat(dirfd, tmp.as_str(), dirfd, name).map_err(sys("rename to", name)));
    if renamed.is_err() {
        let _ = unlinkat(dirfd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    renamed
}

/// Removes the oldest entries (by mtime) beyond `max`, never `keep`: the entry just written
/// may share its coarse mtime with older ones. Another rt evicting at the same time may have
/// removed a file first; that is not an error.
fn evict(dirfd: &OwnedFd, max: usize, keep: &str) -> Result<(), CacheError> {
    let entries = list_entries(dirfd)?;
    if entries.len() <= max {
        return Ok(());
    }
    let mut by_age: Vec<_> = entries
        .iter()
        .filter(|(name, _)| name.as_bytes() != keep.as_bytes())
        .map(|(name, st)| ((st.st_mtime, st.st_mtime_nsec), name))
        .collect();
    by_age.sort();
    let excess = entries.len() - max;
    for (_, name) in by_age.iter().take(excess) {
        match unlinkat(dirfd, name.as_c_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(sys("remove", &name.to_string_lossy())(e)),
        }
    }
    Ok(())
}

fn list_entries(dirfd: &OwnedFd) -> Result<Vec<(std::ffi::CString, FileStat)>, CacheError> {
    let dup = dirfd.try_clone().map_err(io("dup", CACHE_DIR))?;
    let mut dir = nix::dir::Dir::from_fd(dup).map_err(sys("list", CACHE_DIR))?;
    let mut out = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(sys("list", CACHE_DIR))?;
        let name: &CStr = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        match fstatat(dirfd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => out.push((name.to_owned(), st)),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(sys("stat", &name.to_string_lossy())(e)),
        }
    }
    Ok(out)
}

fn encode(key: &[u8], c: &CompiledSeccomp) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + key.len() + c.program.len() * INSN_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    put_bytes(&mut out, key);
    put_flags(&mut out, c.flags);
    put_flags(&mut out, c.optional_flags);
    put_opt(
        &mut out,
        c.listener_path.as_deref().map(|p| p.as_os_str().as_bytes()),
    );
    put_opt(&mut out, c.listener_metadata.as_deref().map(str::as_bytes));
    put_len(&mut out, c.program.len());
    for insn in &c.program {
        out.extend_from_slice(&insn.code.to_le_bytes());
        out.push(insn.jt);
        out.push(insn.jf);
        out.extend_from_slice(&insn.k.to_le_bytes());
    }
    let sum = hash64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

// c_ulong is u64 only on 64-bit targets; the entry always has 64 bits.
#[allow(clippy::useless_conversion)]
fn put_flags(out: &mut Vec<u8>, flags: libc::c_ulong) {
    out.extend_from_slice(&u64::from(flags).to_le_bytes());
}

/// Lengths come from in-memory data far below 4 GiB (the key, a path, <= 4096 instructions),
/// so saturating never happens; a wrong length could only make the entry unreadable.
fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_opt(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_bytes(out, b);
        }
    }
}

/// A cursor over an entry; every read past the end is a corrupt entry.
struct Reader<'a> {
    buf: &'a [u8],
    name: &'a str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CacheError> {
        if n > self.buf.len() {
            return Err(corrupt(self.name, "truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CacheError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, CacheError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, CacheError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CacheError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], CacheError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn opt(&mut self) -> Result<Option<&'a [u8]>, CacheError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.bytes().map(Some),
            _ => Err(corrupt(self.name, "bad option tag")),
        }
    }
}

/// The entry's filter, if `data` is a well-formed entry for exactly `key`.
fn decode(data: &[u8], key: &[u8], name: &str) -> Result<CompiledSeccomp, CacheError> {
    let (body, sum) = data
        .split_last_chunk::<8>()
        .ok_or_else(|| corrupt(name, "truncated"))?;
    if hash64(body) != u64::from_le_bytes(*sum) {
        return Err(corrupt(name, "checksum mismatch"));
    }
    let mut r = Reader { buf: body, name };
    if r.take(MAGIC.len())? != MAGIC {
        return Err(corrupt(name, "bad magic"));
    }
    if r.u32()? != FORMAT_VERSION {
        return Err(corrupt(name, "other format version"));
    }
    if r.bytes()? != key {
        return Err(CacheError::OtherKey(name.to_string()));
    }
    let flags = libc::c_ulong::try_from(r.u64()?).map_err(|_| corrupt(name, "bad flags"))?;
    let optional_flags =
        libc::c_ulong::try_from(r.u64()?).map_err(|_| corrupt(name, "bad flags"))?;
    let listener_path = r.opt()?.map(|b| PathBuf::from(OsStr::from_bytes(b)));
    let listener_metadata = match r.opt()? {
        None => None,
        Some(b) => Some(
            std::str::from_utf8(b)
                .map_err(|_| corrupt(name, "listener metadata is not UTF-8"))?
                .to_string(),
        ),
    };
    let program = decode_program(&mut r)?;
    if !r.buf.is_empty() {
        return Err(corrupt(name, "trailing bytes"));
    }
    Ok(CompiledSeccomp {
        program,
        flags,
        listener_path,
        listener_metadata,
        optional_flags,
    })
}

fn decode_program(r: &mut Reader<'_>) -> Result<Vec<sock_filter>, CacheError> {
    let count = r.u32()? as usize;
    // compile never produces an empty or oversized program; bounding it first also keeps a
    // bogus count from sizing the allocation.
    if count == 0 || count > BPF_MAXINSNS {
        return Err(corrupt(r.name, "bad instruction count"));
    }
    let mut program = Vec::with_capacity(count);
    for _ in 0..count {
        let raw: [u8; INSN_BYTES] = r.array()?;
        program.push(sock_filter {
            code: u16::from_le_bytes([raw[0], raw[1]]),
            jt: raw[2],
            jf: raw[3],
            k: u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]),
        });
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh directory standing in for `--root`, removed on drop.
    struct TmpRoot(crate::testutil::TempDir);

    impl TmpRoot {
        fn new(tag: &str) -> TmpRoot {
            TmpRoot(crate::testutil::TempDir::new(&format!(
                "seccomp-cache-{tag}"
            )))
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        fn cache(&self) -> PathBuf {
            self.path().join(CACHE_DIR)
        }

        fn entries(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(self.cache())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }

        /// The path of the only entry.
        fn entry(&self) -> PathBuf {
            let e = self.entries();
            assert_eq!(e.len(), 1, "{e:?}");
            self.cache().join(&e[0])
        }
    }

    fn profile(errno: u32) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}]}
            ]
        }))
        .unwrap()
    }

    fn assert_same(a: &CompiledSeccomp, b: &CompiledSeccomp) {
        assert_eq!(a.program, b.program);
        assert_eq!(a.flags, b.flags);
        assert_eq!(a.optional_flags, b.optional_flags);
        assert_eq!(a.listener_path, b.listener_path);
        assert_eq!(a.listener_metadata, b.listener_metadata);
    }

    fn lookup_in(root: &TmpRoot, p: &LinuxSeccomp) -> Result<Option<CompiledSeccomp>, CacheError> {
        let key = cache_key(p).unwrap();
        lookup(&root.cache(), &entry_name(&key), &key)
    }

    #[test]
    fn cache_dir_is_never_a_container_id() {
        assert!(crate::state::validate_id(CACHE_DIR).is_err());
    }

    #[test]
    fn miss_then_hit_gives_what_compile_gives() {
        let root = TmpRoot::new("hit");
        let p = profile(42);
        let direct = compile(&p).unwrap();
        assert!(lookup_in(&root, &p).unwrap().is_none());
        assert_same(&compile_cached(root.path(), &p).unwrap(), &direct);
        let entry = root.entry();
        let hit = lookup_in(&root, &p)
            .unwrap()
            .expect("a hit after the first compile");
        assert_same(&hit, &direct);
        assert_same(&compile_cached(root.path(), &p).unwrap(), &direct);
        assert_eq!(root.entries().len(), 1);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.cache()), 0o700);
        assert_eq!(mode(&entry), 0o600);
    }

    #[test]
    fn all_fields_round_trip() {
        let mut c = compile(&profile(1)).unwrap();
        c.listener_path = Some("/run/agent.sock".into());
        c.listener_metadata = Some("meta ü".into());
        c.flags = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_TSYNC;
        let key = b"k".to_vec();
        assert_same(&decode(&encode(&key, &c), &key, "x").unwrap(), &c);
    }

    #[test]
    fn another_profile_misses() {
        let root = TmpRoot::new("other");
        compile_cached(root.path(), &profile(42)).unwrap();
        let other = profile(43);
        assert!(lookup_in(&root, &other).unwrap().is_none());
        let got = compile_cached(root.path(), &other).unwrap();
        assert_same(&got, &compile(&other).unwrap());
        assert_ne!(got.program, compile(&profile(42)).unwrap().program);
        assert_eq!(root.entries().len(), 2);
    }

    #[test]
    fn key_tells_flags_apart() {
        // `flags` absent and `flags: []` compile differently (SPEC_ALLOW is optional in one).
        let mut none = profile(1);
        none.set_flags(None);
        let mut empty = profile(1);
        empty.set_flags(Some(vec![]));
        assert_ne!(cache_key(&none).unwrap(), cache_key(&empty).unwrap());
        assert_ne!(
            compile(&none).unwrap().optional_flags,
            compile(&empty).unwrap().optional_flags
        );
    }

    /// Each way of damaging the entry is a miss, and compile_cached rewrites a good entry.
    #[test]
    fn damaged_entries_are_ignored_and_rewritten() {
        let root = TmpRoot::new("damage");
        let p = profile(42);
        let direct = compile(&p).unwrap();
        compile_cached(root.path(), &p).unwrap();
        let path = root.entry();
        let good = fs::read(&path).unwrap();
        let key_len = cache_key(&p).unwrap().len();
        let mut damages: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("garbage", b"not an entry at all, just some bytes".to_vec()),
            ("truncated", good[..good.len() / 2].to_vec()),
            ("one byte short", good[..good.len() - 1].to_vec()),
            ("trailing byte", [&good[..], b"x"].concat()),
        ];
        let flip = |at: usize| {
            let mut d = good.clone();
            d[at] ^= 0x01;
            d
        };
        damages.push(("magic", flip(0)));
        damages.push(("key byte", flip(16 + key_len / 2)));
        damages.push(("instruction", flip(good.len() - 12)));
        damages.push(("checksum", flip(good.len() - 1)));
        for (what, bytes) in damages {
            fs::write(&path, &bytes).unwrap();
            assert!(lookup_in(&root, &p).is_err(), "{what}: not refused");
            assert_same(&compile_cached(root.path(), &p).unwrap(), &direct);
            assert_eq!(fs::read(&path).unwrap(), good, "{what}: not rewritten");
        }
    }

    /// A well-formed entry under the right file name but for another key: what a hash
    /// collision or a planted file looks like.
    #[test]
    fn entry_for_another_key_is_not_used() {
        let root = TmpRoot::new("forged");
        let victim = profile(42);
        let other = profile(7);
        compile_cached(root.path(), &victim).unwrap();
        let path = root.entry();
        let forged = encode(&cache_key(&other).unwrap(), &compile(&other).unwrap());
        fs::write(&path, &forged).unwrap();
        assert!(matches!(
            lookup_in(&root, &victim),
            Err(CacheError::OtherKey(_))
        ));
        let got = compile_cached(root.path(), &victim).unwrap();
        assert_same(&got, &compile(&victim).unwrap());
        assert_ne!(fs::read(&path).unwrap(), forged);
    }

    #[test]
    fn loose_directory_is_not_trusted() {
        let root = TmpRoot::new("loose");
        let p = profile(42);
        compile_cached(root.path(), &p).unwrap();
        fs::set_permissions(root.cache(), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(lookup_in(&root, &p), Err(CacheError::Insecure(_))));
        assert_same(
            &compile_cached(root.path(), &p).unwrap(),
            &compile(&p).unwrap(),
        );
    }

    #[test]
    fn unwritable_root_still_compiles() {
        let root = TmpRoot::new("nodir");
        // A file where the cache directory would go.
        fs::write(root.cache(), b"").unwrap();
        let p = profile(42);
        assert_same(
            &compile_cached(root.path(), &p).unwrap(),
            &compile(&p).unwrap(),
        );
    }

    #[test]
    fn eviction_keeps_the_newest() {
        let root = TmpRoot::new("evict");
        let total = MAX_ENTRIES as u32 + 5;
        for errno in 1..=total {
            compile_cached(root.path(), &profile(errno)).unwrap();
        }
        assert_eq!(root.entries().len(), MAX_ENTRIES);
        // mtimes can tie within the filesystem's granularity, so only the entry written last
        // is certain to be kept.
        assert!(lookup_in(&root, &profile(total)).unwrap().is_some());

        let dirfd = open_dir(&root.cache()).unwrap().unwrap();
        evict(&dirfd, 3, "").unwrap();
        assert_eq!(root.entries().len(), 3);
    }

    #[test]
    fn evict_removes_oldest_by_mtime() {
        let root = TmpRoot::new("mtime");
        let dirfd = create_dir(&root.cache()).unwrap();
        for (i, name) in ["c", "a", "b"].iter().enumerate() {
            let path = root.cache().join(name);
            fs::write(&path, b"x").unwrap();
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i as u64);
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        evict(&dirfd, 2, "").unwrap();
        assert_eq!(root.entries(), vec!["a".to_string(), "b".to_string()]);
        // The entry just written survives even when it is the oldest.
        fs::write(root.cache().join("d"), b"x").unwrap();
        evict(&dirfd, 2, "a").unwrap();
        assert_eq!(root.entries(), vec!["a".to_string(), "d".to_string()]);
    }

    /// The key must be the profile: serializing and parsing back gives the same profile, so
    /// two profiles with one key would be one profile.
    #[test]
    fn key_serialization_round_trips() {
        let path = Path::new("/usr/share/containers/seccomp.json");
        let p: LinuxSeccomp = match fs::read(path) {
            Ok(data) => serde_json::from_slice(&data).unwrap(),
            Err(_) => profile(42),
        };
        let json = serde_json::to_vec(&p).unwrap();
        let back: LinuxSeccomp = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, p);
        assert_eq!(serde_json::to_vec(&back).unwrap(), json);
    }

    /// `cargo test --release -- --ignored --nocapture bench_`: compile vs a cache hit of
    /// podman's profile.
    #[test]
    #[ignore]
    fn bench_podman_profile() {
        let data = fs::read("/usr/share/containers/seccomp.json").unwrap();
        let p: LinuxSeccomp = serde_json::from_slice(&data).unwrap();
        let root = TmpRoot::new("bench");
        compile_cached(root.path(), &p).unwrap();
        let runs = 200;
        let time = |f: &dyn Fn()| {
            let mut v: Vec<u128> = (0..runs)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed().as_nanos()
                })
                .collect();
            v.sort();
            (v[runs / 2], v[runs / 10], v[runs * 9 / 10])
        };
        let compiled = time(&|| {
            compile(&p).unwrap();
        });
        let hit = time(&|| {
            let key = cache_key(&p).unwrap();
            lookup(&root.cache(), &entry_name(&key), &key)
                .unwrap()
                .unwrap();
        });
        let key = time(&|| {
            cache_key(&p).unwrap();
        });
        let insns = compile(&p).unwrap().program.len();
        println!(
            "podman profile ({insns} insns, entry {} bytes): compile median {} us (p10 {}, p90 {}); \
             cache hit median {} us (p10 {}, p90 {}), of which key {} us",
            fs::metadata(root.entry()).unwrap().len(),
            compiled.0 / 1000,
            compiled.1 / 1000,
            compiled.2 / 1000,
            hit.0 / 1000,
            hit.1 / 1000,
            hit.2 / 1000,
            key.0 / 1000,
        );
    }
}
