//! The "Known differences from runc 1.1.5" section of integration/conformance/README.md is
//! generated from the test sources, so it cannot go stale: every `runc_differs("...")` and
//! `rt_bug_open("...")` call in tests/*.rs and integration/conformance/*.rs (listed under the
//! tests that reach it, through one helper at most) and the third column of the bad-input
//! corpora. This test fails when the README differs from what the sources say; run
//! `UPDATE_KNOWN_DIFFERENCES=1 cargo test --test known_differences` to rewrite the section.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const HEADING: &str = "## Known differences from runc 1.1.5";
const MARKERS: [(&str, Kind); 2] = [
    ("runc_differs(", Kind::RuncDiffers),
    ("rt_bug_open(", Kind::RtBugOpen),
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    RuncDiffers,
    RtBugOpen,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Test sources with the module name each difference is listed under.
fn sources() -> Vec<(String, PathBuf)> {
    let mut v = vec![];
    for (dir, prefix) in [("tests", ""), ("integration/conformance", "conformance/")] {
        for e in fs::read_dir(root().join(dir)).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rs") {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                v.push((format!("{prefix}{stem}"), p));
            }
        }
    }
    v.sort();
    v
}

/// The Rust string literal starting at `s[0] == '"'`, unescaped (with `\` line continuations).
fn string_literal(s: &str) -> String {
    let mut out = String::new();
    let mut it = s[1..].chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '"' => return out,
            '\\' => match it.next() {
                Some('\n') => {
                    while it.peek().is_some_and(|c| c.is_whitespace()) {
                        it.next();
                    }
                }
                Some('n') => out.push('\n'),
                Some(c) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    panic!("unterminated string literal: {}", &s[..s.len().min(80)]);
}

/// `const NAME: &str = "...";` items of a file.
fn consts(text: &str) -> Vec<(String, String)> {
    let mut v = vec![];
    for (at, _) in text.match_indices("\nconst ") {
        let rest = &text[at + 7..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if let Some(q) = rest.find('"')
            && rest[..q].contains(": &str =")
        {
            v.push((name, string_literal(&rest[q..])));
        }
    }
    v
}

/// Top-level functions of a file: (name, is a #[test], text up to the next item).
fn functions(text: &str) -> Vec<(String, bool, &str)> {
    let starts: Vec<usize> = text
        .match_indices("\nfn ")
        .map(|(i, _)| i + 1)
        .chain(text.match_indices("\npub fn ").map(|(i, _)| i + 1))
        .collect();
    let mut starts = starts;
    starts.sort();
    let mut v = vec![];
    for (k, &at) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(text.len());
        let body = &text[at..end];
        let name: String = body
            .trim_start_matches("pub ")
            .trim_start_matches("fn ")
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let attrs = text[..at]
            .lines()
            .rev()
            .take_while(|l| l.starts_with("#[") || l.starts_with("///"));
        let is_test = attrs.into_iter().any(|l| l.trim() == "#[test]");
        v.push((name, is_test, body));
    }
    // Tests a macro stamps out (`$(#[test] fn $name() { helper(...) })*`): one pseudo test per
    // template, whose body is the template's line.
    for (at, _) in text.match_indices("#[test] fn $") {
        let line_end = text[at..].find('\n').map_or(text.len(), |e| at + e);
        v.push(("(each test of a macro)".into(), true, &text[at..line_end]));
    }
    v
}

/// The tests that call `name`, directly or through helpers of the same file.
fn tests_calling<'a>(fns: &'a [(String, bool, &str)], name: &str) -> Vec<&'a String> {
    let mut seen = vec![name.to_string()];
    let mut tests = Vec::new();
    let mut i = 0;
    while i < seen.len() {
        let callee = format!("{}(", seen[i]);
        for (n, is_test, body) in fns {
            if body.contains(&callee) && !seen.contains(n) {
                seen.push(n.clone());
                if *is_test {
                    tests.push(n);
                }
            }
        }
        i += 1;
    }
    tests
}

/// Every (kind, test, reason) the sources record.
fn differences() -> BTreeSet<(Kind, String, String)> {
    let mut out = BTreeSet::new();
    for (module, path) in sources() {
        if module == "common" || module == "known_differences" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let consts = consts(&text);
        let fns = functions(&text);
        for (name, is_test, body) in &fns {
            for (marker, kind) in MARKERS {
                for (at, _) in body.match_indices(marker) {
                    let arg = body[at + marker.len()..].trim_start();
                    let reason = if arg.starts_with('"') {
                        string_literal(arg)
                    } else if let Some((_, lit)) = consts
                        .iter()
                        .find(|(c, _)| arg.starts_with(&format!("{c})")))
                    {
                        lit.clone()
                    } else {
                        // Only the corpus reader passes a computed reason; corpus() lists those.
                        assert_eq!(
                            (module.as_str(), name.as_str()),
                            ("bad_input", "corpus_line"),
                            "{marker}...) needs a string literal or a const: {}",
                            path.display()
                        );
                        continue;
                    };
                    let tests = if *is_test {
                        vec![name]
                    } else {
                        tests_calling(&fns, name)
                    };
                    assert!(
                        !tests.is_empty(),
                        "{module}::{name} records a difference but no test calls it"
                    );
                    for t in tests {
                        out.insert((kind, format!("{module}::{t}"), reason.clone()));
                    }
                }
            }
        }
    }
    out.extend(corpus("tests/corpus/bad-config/expect.tsv", |c, _| {
        format!("bad_input::bad-config/{c}")
    }));
    out.extend(corpus("tests/corpus/bad-argv.txt", |_, argv| {
        format!("bad_input::argv[{argv}]")
    }));
    out
}

/// The third column of a corpus file (see tests/bad_input.rs).
fn corpus(rel: &str, name: fn(&str, &str) -> String) -> Vec<(Kind, String, String)> {
    let text = fs::read_to_string(root().join(rel)).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let (tag, why) = c.get(2)?.split_once(": ")?;
            let kind = match tag {
                "runc" => Kind::RuncDiffers,
                "rt-bug" => Kind::RtBugOpen,
                _ => panic!("{rel}: bad third column: {l}"),
            };
            Some((kind, name(c[0], c[1]), why.to_string()))
        })
        .collect()
}

fn section() -> String {
    let d = differences();
    let mut s = format!(
        "{HEADING}\n\n\
         Generated by `tests/known_differences.rs` from the tests' `runc_differs` and \
         `rt_bug_open` calls and the bad-input corpora's third column \
         (`UPDATE_KNOWN_DIFFERENCES=1 cargo test --test known_differences` rewrites it; the \
         test fails when it is stale). With `RT_BIN=/usr/sbin/runc` a test returns at its \
         `runc_differs`; with rt it returns at its `rt_bug_open`.\n"
    );
    for (kind, title) in [
        (
            Kind::RuncDiffers,
            "runc 1.1.5 differs, and rt keeps its behaviour (runc lacks a newer spec feature, \
             is wrong per the spec, or the test checks an rt-only feature)",
        ),
        (
            Kind::RtBugOpen,
            "rt differs and is the one to fix (open; the test checks runc's behaviour)",
        ),
    ] {
        let rows: Vec<_> = d.iter().filter(|(k, _, _)| *k == kind).collect();
        s += &format!(
            "\n### {title}: {}\n\n| test | reason |\n|---|---|\n",
            rows.len()
        );
        for (_, test, reason) in rows {
            s += &format!(
                "| `{}` | {} |\n",
                test.replace('|', "\\|"),
                reason.replace('|', "\\|")
            );
        }
    }
    s
}

#[test]
fn readme_lists_every_known_difference() {
    let path = root().join("integration/conformance/README.md");
    let readme = fs::read_to_string(&path).unwrap();
    let start = readme
        .find(HEADING)
        .unwrap_or_else(|| panic!("{} has no {HEADING:?}", path.display()));
    let end = readme[start + HEADING.len()..]
        .find("\n## ")
        .map(|i| start + HEADING.len() + i + 1)
        .unwrap_or(readme.len());
    let want = section();
    let sep = if end < readme.len() { "\n" } else { "" };
    if readme[start..end] == format!("{want}{sep}") {
        return;
    }
    if std::env::var_os("UPDATE_KNOWN_DIFFERENCES").is_some() {
        let new = format!("{}{want}{sep}{}", &readme[..start], &readme[end..]);
        fs::write(&path, new).unwrap();
        return;
    }
    panic!(
        "{} is stale: run `UPDATE_KNOWN_DIFFERENCES=1 cargo test --test known_differences`.\n\
         Generated section:\n{want}",
        path.display()
    );
}
