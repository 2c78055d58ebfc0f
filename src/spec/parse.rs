//! Reading config.json (and `exec --process` JSON) the way runc's Go decoder accepts it, with
//! every problem named by its JSON path.
//!
//! A config that oci-spec's strict types take as it is goes through one fast parse. Anything
//! else takes the careful path: the JSON is read as a value, given Go's zero values where runc
//! reads them (a `null` member, a missing `process.user`, a seccomp object with neither
//! `defaultAction` nor rules), unknown capabilities are dropped with a warning (config.md:
//! SHOULD NOT fail), and then every type or enum error is collected, not only the first: the
//! offending member is cut out and the rest parsed again, so `rt check` can list them all.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use super::SpecError;

/// One problem found while reading the JSON: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub msg: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.msg)
    }
}

/// The outcome of a careful parse. `value` is what the JSON gives with the bad members cut
/// out (so further checks can still run on it); it is only usable when `errors` is empty.
pub struct Parsed<T> {
    pub value: Option<T>,
    pub errors: Vec<FieldError>,
    pub warnings: Vec<String>,
    /// Array elements cut out of `value`: (the array's original path, original index).
    cut: Vec<(Vec<Seg>, usize)>,
}

impl<T> Parsed<T> {
    /// `problem` (found in `value`, so with `value`'s array indices) with the path it starts
    /// with given in the original JSON's indices.
    pub fn with_original_path(&self, problem: String) -> String {
        if self.cut.is_empty() {
            return problem;
        }
        let end = problem.find([':', ' ']).unwrap_or(problem.len());
        let Some(segs) = parse_path(&problem[..end]) else {
            return problem;
        };
        let orig = original_path(&segs, &self.cut);
        if orig == segs {
            return problem;
        }
        format!("{}{}", path_string(&orig), &problem[end..])
    }

    /// The value, or every error.
    pub fn into_result(self) -> Result<T, Vec<FieldError>> {
        match (self.value, self.errors.is_empty()) {
            (Some(v), true) => Ok(v),
            (_, false) => Err(self.errors),
            (None, true) => Err(vec![FieldError {
                field: "(top level)".into(),
                msg: "no value".into(),
            }]),
        }
    }
}

/// More errors than this in one file are not worth a parse each.
const MAX_ERRORS: usize = 100;

/// config.json's bytes. It must be a regular file (through symlinks): a FIFO would block the
/// open (and create with it) and a device such as /dev/zero never ends. The type is checked
/// before the open, so no device is ever opened, and again on the fd, which is opened
/// non-blocking in case the file was swapped for a FIFO in between.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, SpecError> {
    let read_err = |source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    };
    let not_regular = |t: std::fs::FileType| SpecError::NotRegular {
        path: path.to_path_buf(),
        kind: file_kind(t),
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut f = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_err)?;
    let meta = f.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.read_to_end(&mut data).map_err(read_err)?;
    Ok(data)
}

fn file_kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// A whole config.json.
pub fn spec(data: &[u8]) -> Parsed<oci_spec::runtime::Spec> {
    parse(data, go_defaults_spec)
}

/// An OCI Process object (`exec --process`).
pub fn process(data: &[u8]) -> Parsed<oci_spec::runtime::Process> {
    parse(data, |v, warnings| {
        strip_nulls(v);
        go_defaults_process(v, "", warnings);
    })
}

fn parse<T: DeserializeOwned>(
    data: &[u8],
    defaults: fn(&mut Value, &mut Vec<String>),
) -> Parsed<T> {
    if let Ok(v) = strict(data) {
        return Parsed {
            value: Some(v),
            errors: Vec::new(),
            warnings: Vec::new(),
            cut: Vec::new(),
        };
    }
    let mut value: Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => return failed(top_level(e.to_string())),
    };
    if !value.is_object() {
        // serde's derived structs would also take an array (fields by position).
        let kind = match value {
            Value::Array(_) => "array",
            Value::Null => "null",
            _ => "scalar",
        };
        return failed(top_level(format!(
            "invalid type: {kind}, expected a JSON object"
        )));
    }
    let mut warnings = Vec::new();
    defaults(&mut value, &mut warnings);
    let (value, errors, cut) = collect_errors(value);
    Parsed {
        value,
        errors,
        warnings,
        cut,
    }
}

fn failed<T>(e: FieldError) -> Parsed<T> {
    Parsed {
        value: None,
        errors: vec![e],
        warnings: Vec::new(),
        cut: Vec::new(),
    }
}

fn top_level(msg: String) -> FieldError {
    FieldError {
        field: "(top level)".into(),
        msg,
    }
}

/// The fast path: the bytes straight into the types (an object only; see [`parse`]).
fn strict<T: DeserializeOwned>(data: &[u8]) -> Result<T, ()> {
    if data.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(());
    }
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|_| ())
}

/// Parse `value`; at each error, record it with its path in the original JSON, cut the
/// offending member out and parse again.
type Cuts = Vec<(Vec<Seg>, usize)>;

fn collect_errors<T: DeserializeOwned>(mut value: Value) -> (Option<T>, Vec<FieldError>, Cuts) {
    let mut errors = Vec::new();
    // Elements cut out of arrays, by the array's original path, so later paths can be given
    // with the original indices.
    let mut cut: Cuts = Vec::new();
    let mut last_cut: Option<Vec<Seg>> = None;
    loop {
        let err = match strict_value::<T>(&value) {
            Ok(v) => return (Some(v), errors, cut),
            Err(e) => e,
        };
        let Some(segs) = segments(err.path()) else {
            errors.push(top_level(message(err.inner())));
            return (None, errors, cut);
        };
        let msg = message(err.inner());
        let orig = original_path(&segs, &cut);
        // Cutting a required member makes its parent report it missing: that is the same
        // problem, already recorded.
        let echo = msg.starts_with("missing field")
            && last_cut
                .as_ref()
                .is_some_and(|l| l.len() == orig.len() + 1 && l.starts_with(&orig));
        if !echo {
            errors.push(FieldError {
                field: path_string(&orig),
                msg,
            });
        }
        // Inside an array element, the whole element goes (`rlimits[1]` for a bad
        // `rlimits[1].hard`): a member cut alone would take its default and mislead the
        // checks that run on what is left.
        let keep = segs
            .iter()
            .rposition(|s| matches!(s, Seg::Index(_)))
            .map_or(segs.len(), |i| i + 1);
        let (segs, orig) = (&segs[..keep], &orig[..keep]);
        if segs.is_empty() || errors.len() >= MAX_ERRORS || !remove(&mut value, segs) {
            return (None, errors, cut);
        }
        if let Some(Seg::Index(i)) = orig.last() {
            cut.push((orig[..orig.len() - 1].to_vec(), *i));
        }
        last_cut = Some(orig.to_vec());
    }
}

/// `value` through the same byte deserializer as the fast path: deserializing from a `Value`
/// would compile a second copy of every config type's deserializer (~250 KB of binary).
fn strict_value<T: DeserializeOwned>(
    value: &Value,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de)
}

/// The error without its position, which is in the re-written JSON, not in the user's file.
fn message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    s.strip_suffix(&at).map(str::to_string).unwrap_or(s)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn segments(p: &serde_path_to_error::Path) -> Option<Vec<Seg>> {
    p.iter()
        .map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// `segs` (indices as they are now) with the indices the arrays had before any cut.
fn original_path(segs: &[Seg], cut: &[(Vec<Seg>, usize)]) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    for s in segs {
        let s = match s {
            Seg::Index(now) => {
                let mut gone: Vec<usize> = cut
                    .iter()
                    .filter(|(array, _)| *array == out)
                    .map(|(_, i)| *i)
                    .collect();
                gone.sort_unstable();
                let mut i = *now;
                for g in gone {
                    if g <= i {
                        i += 1;
                    }
                }
                Seg::Index(i)
            }
            key => key.clone(),
        };
        out.push(s);
    }
    out
}

fn path_string(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        "(top level)".into()
    } else {
        s
    }
}

/// `a.b[2].c` back into segments (None for anything else).
fn parse_path(s: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    for part in s.split('.') {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if key.is_empty() {
            return None;
        }
        out.push(Seg::Key(key.to_string()));
        while let Some(r) = rest.strip_prefix('[') {
            let (n, after) = r.split_once(']')?;
            out.push(Seg::Index(n.parse().ok()?));
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// Remove the member or element at `segs`; false when there is nothing there to remove.
fn remove(v: &mut Value, segs: &[Seg]) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = v;
    for s in parents {
        let next = match s {
            Seg::Key(k) => cur.get_mut(k.as_str()),
            Seg::Index(i) => cur.get_mut(*i),
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, cur) {
        (Seg::Key(k), Value::Object(m)) => m.remove(k).is_some(),
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// Go's decoder leaves a field alone for a JSON `null`: the same as a member not given.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// `obj[key]`, set to `default` when the member is missing (objects only).
fn default_member(obj: &mut Value, key: &str, default: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key).or_insert(default);
    }
}

/// runc's reading of config.json where oci-spec's types are stricter: what Go's zero values
/// give, and unknown capabilities left out with a warning.
fn go_defaults_spec(v: &mut Value, warnings: &mut Vec<String>) {
    strip_nulls(v);
    if let Some(p) = v.get_mut("process") {
        go_defaults_process(p, "process.", warnings);
    }
    // A missing destination or hook path is Go's "": refused later by path, like runc.
    for m in v
        .get_mut("mounts")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        default_member(m, "destination", Value::from(""));
    }
    if let Some(hooks) = v.get_mut("hooks").and_then(Value::as_object_mut) {
        for list in hooks.values_mut().filter_map(Value::as_array_mut) {
            list.iter_mut()
                .for_each(|h| default_member(h, "path", Value::from("")));
        }
    }
    if let Some(linux) = v.get_mut("linux").and_then(Value::as_object_mut) {
        go_defaults_seccomp(linux);
    }
}

fn go_defaults_process(p: &mut Value, prefix: &str, warnings: &mut Vec<String>) {
    // `user` is REQUIRED by the spec, but runc runs a process without one as uid 0, gid 0
    // (and `exec --process` files often leave it out).
    default_member(p, "user", Value::Object(Default::default()));
    // runc refuses an empty cwd ("Cwd property must not be empty"): keep it for that check.
    default_member(p, "cwd", Value::from(""));
    drop_unknown_capabilities(p, prefix, warnings);
}

/// runc: "No default action specified, no syscalls listed, assume seccomp disabled". A rule
/// without `names` is a rule for no syscall, and an argument without `index` or `value`
/// compares argument 0 or with 0 (valueTwo is handled by the compiler).
fn go_defaults_seccomp(linux: &mut serde_json::Map<String, Value>) {
    let Some(s) = linux.get_mut("seccomp") else {
        return;
    };
    let no_default = s.get("defaultAction").is_none_or(|a| a == "");
    let no_rules = s
        .get("syscalls")
        .is_none_or(|r| r.as_array().is_some_and(Vec::is_empty));
    if s.is_object() && no_default && no_rules {
        linux.remove("seccomp");
        return;
    }
    for rule in s
        .get_mut("syscalls")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        default_member(rule, "names", Value::Array(Vec::new()));
        for arg in rule
            .get_mut("args")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_member(arg, "index", Value::from(0));
            default_member(arg, "value", Value::from(0));
        }
    }
}

/// config.md: capabilities that cannot be mapped are warnings, and runtimes SHOULD NOT fail.
fn drop_unknown_capabilities(p: &mut Value, prefix: &str, warnings: &mut Vec<String>) {
    let Some(sets) = p.get_mut("capabilities").and_then(Value::as_object_mut) else {
        return;
    };
    for (set, names) in sets.iter_mut() {
        let Some(arr) = names.as_array_mut() else {
            continue;
        };
        arr.retain(|name| {
            let known =
                serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known && name.is_string() {
                warnings.push(format!(
                    "{prefix}capabilities.{set}: ignoring unknown capability {name}"
                ));
            }
            known || !name.is_string()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(p: &Parsed<oci_spec::runtime::Spec>) -> Vec<String> {
        p.errors.iter().map(|e| e.field.clone()).collect()
    }

    fn base() -> Value {
        super::super::template(false)
    }

    #[test]
    fn every_type_and_enum_error_is_listed_with_its_original_path() {
        let mut v = base();
        v["process"]["capabilities"]["bounding"][0] = json!("CAP_BOGUS");
        v["process"]["rlimits"] = json!([
            {"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1},
            {"type": "RLIMIT_NOFILE", "hard": "x", "soft": 1},
            {"type": "RLIMIT_NPROC", "hard": 1, "soft": 1}
        ]);
        v["linux"]["namespaces"][1]["type"] = json!("bogus");
        v["linux"]["namespaces"][3]["type"] = json!(7);
        v["hostname"] = json!(5);
        let p = spec(v.to_string().as_bytes());
        assert_eq!(
            fields(&p),
            [
                "hostname",
                "linux.namespaces[1].type",
                "linux.namespaces[3].type",
                "process.rlimits[0].type",
                "process.rlimits[1].hard",
            ]
        );
        assert!(p.errors[3].msg.contains("RLIMIT_BOGUS"), "{:?}", p.errors);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("CAP_BOGUS"));
        // What is left still parses, for the checks that follow (the two bad rlimits are cut).
        let left = p.value.as_ref().expect("the rest parses");
        let rlimits = left.process().as_ref().unwrap().rlimits().clone().unwrap();
        assert_eq!(rlimits.len(), 1);
        assert_eq!(rlimits[0].hard(), 1);
        // A problem found in what is left is given the original index back.
        assert_eq!(
            p.with_original_path("process.rlimits[0]: soft above hard".into()),
            "process.rlimits[2]: soft above hard"
        );
        assert_eq!(
            p.with_original_path("linux.namespaces[2].path x".into()),
            "linux.namespaces[4].path x"
        );
        assert_eq!(p.with_original_path("hostname: x".into()), "hostname: x");
    }

    #[test]
    fn go_zero_values_are_accepted_as_runc_reads_them() {
        let mut v = base();
        v["process"].as_object_mut().unwrap().remove("user");
        v["process"]["terminal"] = Value::Null;
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": null, "size": 1}]);
        v["linux"]["seccomp"] = json!({});
        let s = spec(v.to_string().as_bytes()).into_result().unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        assert!(s.linux().as_ref().unwrap().seccomp().is_none());
        let mut v = base();
        v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"action": "SCMP_ACT_ERRNO"},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"op": "SCMP_CMP_EQ"}]}
        ]});
        let s = spec(v.to_string().as_bytes()).into_result().unwrap();
        let sc = s.linux().as_ref().unwrap().seccomp().clone().unwrap();
        let rules = sc.syscalls().clone().unwrap();
        assert!(rules[0].names().is_empty());
        let arg = &rules[1].args().as_ref().unwrap()[0];
        assert_eq!((arg.index(), arg.value()), (0, 0));
        // A missing cwd is Go's "", left for the check that refuses it by name.
        let mut v = base();
        v["process"].as_object_mut().unwrap().remove("cwd");
        let s = spec(v.to_string().as_bytes()).into_result().unwrap();
        assert_eq!(s.process().as_ref().unwrap().cwd(), Path::new(""));
    }

    #[test]
    fn a_cut_required_member_is_reported_once() {
        let mut v = base();
        v["linux"]["namespaces"][0]["type"] = json!("nope");
        let p = spec(v.to_string().as_bytes());
        assert_eq!(fields(&p), ["linux.namespaces[0].type"]);
    }

    #[test]
    fn syntax_and_top_level_errors() {
        let p = spec(b"{\n \"ociVersion\": ");
        assert_eq!(fields(&p), ["(top level)"]);
        assert!(p.errors[0].msg.contains("line 2"), "{:?}", p.errors);
        for bad in [&b"[]"[..], b"null", b"7"] {
            let p = spec(bad);
            assert!(
                p.errors[0].msg.contains("expected a JSON object"),
                "{:?}",
                p.errors
            );
        }
    }

    #[test]
    fn process_without_user_runs_as_root() {
        let p = process(br#"{"args": ["sh"], "cwd": "/"}"#)
            .into_result()
            .unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
    }
}
