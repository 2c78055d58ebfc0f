//! The pure part of starting init: which namespaces are created at clone time, which are joined,
//! which are unshared afterwards, and whether a second fork is needed. Side-effecting code in
//! clone.rs/init.rs only carries this plan out.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::namespaces::{self, clone_flag};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClonePlan {
    /// Namespaces created by clone3 itself (the common case: all of them, one process).
    pub clone_flags: libc::c_int,
    /// Namespaces joined with setns, in order (user first: it grants the rights for the rest).
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// A new user namespace made with unshare after the joins (maps requested from the parent).
    pub unshare_user: bool,
    /// Namespaces made with unshare after the joins and the user namespace.
    pub unshare_flags: libc::c_int,
    /// setns/unshare of a pid or time namespace affects only children, so fork once more.
    pub must_fork: bool,
    /// The parent writes uid/gid maps for a new user namespace.
    pub new_user: bool,
}

impl ClonePlan {
    /// Whether init ends up in a user namespace (made or joined).
    pub fn in_user_namespace(&self) -> bool {
        self.new_user
            || self
                .join
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::User)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("linux.namespaces: duplicate namespace type {0}")]
    Duplicate(&'static str),
}

pub fn plan(namespaces: &[LinuxNamespace]) -> Result<ClonePlan, PlanError> {
    let mut seen = 0;
    let mut create = 0;
    let mut join = Vec::new();
    for ns in namespaces {
        let flag = clone_flag(ns.typ());
        if seen & flag != 0 {
            return Err(PlanError::Duplicate(namespaces::proc_name(ns.typ())));
        }
        seen |= flag;
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => join.push((ns.typ(), p.clone())),
            _ => create |= flag,
        }
    }
    // User first, then the rest in a fixed order, so rights come before their use.
    join.sort_by_key(|(t, _)| namespaces::ALL.iter().position(|a| a == t));

    let joins_pid_or_time = join
        .iter()
        .any(|(t, _)| matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
    let new_user = create & libc::CLONE_NEWUSER != 0;
    // A cgroup namespace is rooted where its creator stands, so it is made only after the parent
    // has put the child into its cgroup. Time offsets can be written only before any process is
    // inside, so a new time namespace is made by unshare and entered by a fork.
    let mut late = create & (libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME);
    if late & libc::CLONE_NEWTIME != 0 {
        // The fork into the time namespace uses CLONE_PARENT, which the kernel refuses (EINVAL)
        // to a pid namespace's init: make the pid namespace by unshare too, so the forked child
        // becomes its init.
        late |= create & libc::CLONE_NEWPID;
    }
    if join.is_empty() {
        Ok(ClonePlan {
            clone_flags: create & !late,
            join,
            unshare_user: false,
            unshare_flags: late,
            must_fork: create & libc::CLONE_NEWTIME != 0,
            new_user,
        })
    } else {
        // Joined namespaces must be entered before new ones are made (setns needs rights in the
        // owning user namespace, which a fresh user namespace would take away).
        Ok(ClonePlan {
            clone_flags: 0,
            join,
            unshare_user: new_user,
            unshare_flags: create & !libc::CLONE_NEWUSER,
            must_fork: joins_pid_or_time
                || create & (libc::CLONE_NEWPID | libc::CLONE_NEWTIME) != 0,
            new_user,
        })
    }
}

/// `exec`: join every namespace the container was configured with, through its init's
/// /proc/<pid>/ns entries (a configured path was joined by init, so init's entry names the same
/// namespace). Nothing is created.
pub fn exec_plan(namespaces: &[LinuxNamespace], init_pid: i32) -> Result<ClonePlan, PlanError> {
    let joined: Vec<LinuxNamespace> = namespaces
        .iter()
        .map(|ns| {
            let mut ns = ns.clone();
            ns.set_path(Some(PathBuf::from(format!(
                "/proc/{init_pid}/ns/{}",
                namespaces::proc_name(ns.typ())
            ))));
            ns
        })
        .collect();
    plan(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut b = LinuxNamespaceBuilder::default().typ(t);
        if let Some(p) = path {
            b = b.path(p);
        }
        b.build().unwrap()
    }

    use LinuxNamespaceType::*;

    #[test]
    fn common_case_is_one_clone() {
        let p = plan(&[
            ns(Pid, None),
            ns(Network, None),
            ns(Ipc, None),
            ns(Uts, None),
            ns(Mount, None),
            ns(Cgroup, None),
        ])
        .unwrap();
        assert_eq!(
            p.clone_flags,
            libc::CLONE_NEWPID
                | libc::CLONE_NEWNET
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWNS
        );
        assert_eq!(p.unshare_flags, libc::CLONE_NEWCGROUP);
        assert!(!p.must_fork && !p.new_user && p.join.is_empty());
    }

    #[test]
    fn user_and_pid_created_together_need_no_fork() {
        let p = plan(&[ns(User, None), ns(Pid, None), ns(Mount, None)]).unwrap();
        assert_eq!(
            p.clone_flags,
            libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWNS
        );
        assert!(p.new_user && !p.unshare_user && !p.must_fork);
    }

    #[test]
    fn new_time_namespace_forks() {
        let p = plan(&[ns(Time, None), ns(Mount, None)]).unwrap();
        assert_eq!(p.clone_flags, libc::CLONE_NEWNS);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWTIME);
        assert!(p.must_fork);
        let p = plan(&[ns(Time, None), ns(Pid, None), ns(Mount, None)]).unwrap();
        assert_eq!(p.clone_flags, libc::CLONE_NEWNS);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWTIME | libc::CLONE_NEWPID);
        assert!(p.must_fork);
    }

    #[test]
    fn joining_net_keeps_single_process_without_pid() {
        let p = plan(&[ns(Network, Some("/proc/1/ns/net")), ns(Mount, None)]).unwrap();
        assert_eq!(p.clone_flags, 0);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWNS);
        assert_eq!(p.join, vec![(Network, PathBuf::from("/proc/1/ns/net"))]);
        assert!(!p.must_fork);
    }

    #[test]
    fn joining_with_new_pid_forks() {
        let p = plan(&[ns(Network, Some("/x")), ns(Pid, None)]).unwrap();
        assert!(p.must_fork);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWPID);
    }

    #[test]
    fn joining_pid_forks() {
        let p = plan(&[ns(Pid, Some("/proc/9/ns/pid")), ns(Mount, None)]).unwrap();
        assert!(p.must_fork);
    }

    #[test]
    fn joined_user_comes_first_and_new_user_is_unshared_after_joins() {
        let p = plan(&[ns(Network, Some("/n")), ns(User, Some("/u"))]).unwrap();
        assert_eq!(p.join[0].0, User);
        let p = plan(&[ns(Network, Some("/n")), ns(User, None), ns(Pid, None)]).unwrap();
        assert!(p.unshare_user && p.new_user && p.must_fork);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWPID);
    }

    #[test]
    fn host_namespaces_mean_no_flags() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.clone_flags | p.unshare_flags, 0);
        assert!(!p.must_fork);
    }

    #[test]
    fn exec_joins_everything_of_init_user_first_and_forks_for_pid() {
        let p = exec_plan(
            &[
                ns(Pid, None),
                ns(Network, Some("/var/run/netns/x")),
                ns(Mount, None),
                ns(User, None),
            ],
            42,
        )
        .unwrap();
        assert_eq!(p.clone_flags | p.unshare_flags, 0);
        assert!(!p.new_user && !p.unshare_user);
        assert!(p.must_fork);
        let got: Vec<(LinuxNamespaceType, PathBuf)> = p.join;
        assert_eq!(
            got,
            vec![
                (User, PathBuf::from("/proc/42/ns/user")),
                (Mount, PathBuf::from("/proc/42/ns/mnt")),
                (Pid, PathBuf::from("/proc/42/ns/pid")),
                (Network, PathBuf::from("/proc/42/ns/net")),
            ]
        );
    }

    #[test]
    fn exec_without_pid_namespace_needs_no_fork() {
        let p = exec_plan(&[ns(Mount, None), ns(Uts, None)], 7).unwrap();
        assert!(!p.must_fork);
        assert_eq!(p.join.len(), 2);
    }

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(
            plan(&[ns(Pid, None), ns(Pid, Some("/p"))]),
            Err(PlanError::Duplicate("pid"))
        );
    }
}
