//! The host's cgroup hierarchies as seen in /proc/self/mountinfo, and this process's place in
//! each (from /proc/self/cgroup): what the container's /sys/fs/cgroup mount shows.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// The mount's root within the hierarchy (field 4 of mountinfo).
    pub mount_root: PathBuf,
    pub is_v2: bool,
    /// Controllers (v1 super options), e.g. ["cpu"], ["name=systemd"]; empty for v2.
    pub controllers: Vec<String>,
    /// This process's cgroup in this hierarchy.
    pub own: PathBuf,
}

impl Hierarchy {
    /// The host directory of our own cgroup in this hierarchy.
    pub fn own_dir(&self) -> PathBuf {
        let rel = self
            .own
            .strip_prefix(&self.mount_root)
            .unwrap_or(&self.own)
            .to_path_buf();
        let rel = rel.strip_prefix("/").unwrap_or(&rel).to_path_buf();
        self.mount_point.join(rel)
    }
}

pub fn hierarchies() -> std::io::Result<Vec<Hierarchy>> {
    let mountinfo = crate::procfs::read_to_string(Path::new("/proc/self/mountinfo"), 16 * 1024)?;
    let cgroup = crate::procfs::read_to_string(Path::new("/proc/self/cgroup"), 4096)?;
    Ok(parse(&mountinfo, &cgroup))
}

pub fn parse(mountinfo: &str, self_cgroup: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let fstype = post[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let is_v2 = fstype == "cgroup2";
        let controllers: Vec<String> = if is_v2 {
            vec![]
        } else {
            post[2]
                .split(',')
                .filter(|o| {
                    !matches!(
                        *o,
                        "rw" | "ro" | "relatime" | "noatime" | "nosuid" | "nodev" | "noexec"
                    ) && !o.starts_with("release_agent")
                        && *o != "clone_children"
                        && *o != "noprefix"
                        && *o != "xattr"
                })
                .map(String::from)
                .collect()
        };
        let own = self_cgroup
            .lines()
            .find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                let matches = if is_v2 {
                    ctrls.is_empty()
                } else {
                    let set: Vec<&str> = ctrls.split(',').collect();
                    !controllers.is_empty() && controllers.iter().all(|c| set.contains(&c.as_str()))
                };
                matches.then(|| PathBuf::from(path))
            })
            .unwrap_or_else(|| PathBuf::from("/"));
        out.push(Hierarchy {
            mount_point: PathBuf::from(pre[4]),
            mount_root: PathBuf::from(pre[3]),
            is_v2,
            controllers,
            own,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_layout() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                  31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                  32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  33 25 0:29 / /tmp rw - tmpfs tmpfs rw\n";
        let cg = "5:memory:/c1\n4:cpu,cpuacct:/c1\n0::/c1\n";
        let h = parse(mi, cg);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].own_dir(), PathBuf::from("/sys/fs/cgroup/memory/c1"));
        assert_eq!(h[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(
            h[1].own_dir(),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c1")
        );
        assert!(h[2].is_v2);
        assert_eq!(h[2].own_dir(), PathBuf::from("/sys/fs/cgroup/unified/c1"));
    }
}
