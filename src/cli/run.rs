//! `create`/`run` options, and the admin shorthand `rt run bundle/`.

use std::path::{Path, PathBuf};

use super::{Cli, CreateArgs};
use crate::container::{self, CreateOpts};
use crate::state::Root;

pub fn create_opts<'a>(
    cli: &'a Cli,
    a: &'a CreateArgs,
    bundle: &'a Path,
    fg: bool,
) -> CreateOpts<'a> {
    CreateOpts {
        id: &a.id,
        bundle,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds as i32,
        systemd_cgroup: cli.systemd_cgroup,
        foreground: fg,
    }
}

/// An id from a bundle directory's name: only the characters ids allow, made unique in `root`.
pub fn id_from_dir(root: &Root, dir: &Path) -> String {
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if base.is_empty() || base == "." || base == ".." {
        base = "container".into();
    }
    let mut id = base.clone();
    let mut n = 1;
    while root.dir(&id).exists() {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

pub fn run(cli: &Cli, a: &CreateArgs, detach: bool, keep: bool) -> anyhow::Result<i32> {
    let root = Root::open(&cli.root)?;
    let mut args = a.clone();
    // `rt run bundle/`: one positional naming a directory with config.json, and no --bundle.
    let bundle: PathBuf = match &a.bundle {
        Some(b) => b.clone(),
        None if Path::new(&a.id).join(crate::spec::CONFIG).is_file() => {
            let dir = PathBuf::from(&a.id);
            args.id = id_from_dir(&root, &dir);
            dir
        }
        None => PathBuf::from("."),
    };
    let o = container::run::RunOpts {
        create: create_opts(cli, &args, &bundle, !detach),
        detach,
        keep,
    };
    Ok(container::run(&root, &o)?)
}
