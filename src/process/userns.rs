//! uid_map/gid_map of a new user namespace, written by rt (the parent), which holds the rights
//! in the outer namespace that the child gave up.

use oci_spec::runtime::LinuxIdMapping;

pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

pub fn write_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<(), std::io::Error> {
    let ctx = |what: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("write /proc/{pid}/{what}: {e}"))
    };
    if !uid.is_empty() {
        std::fs::write(format!("/proc/{pid}/uid_map"), map_text(uid))
            .map_err(|e| ctx("uid_map", e))?;
    }
    if !gid.is_empty() {
        std::fs::write(format!("/proc/{pid}/gid_map"), map_text(gid))
            .map_err(|e| ctx("gid_map", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    #[test]
    fn map_lines() {
        let m = vec![
            LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(100000u32)
                .size(65536u32)
                .build()
                .unwrap(),
            LinuxIdMappingBuilder::default()
                .container_id(70000u32)
                .host_id(1u32)
                .size(1u32)
                .build()
                .unwrap(),
        ];
        assert_eq!(map_text(&m), "0 100000 65536\n70000 1 1\n");
    }
}
