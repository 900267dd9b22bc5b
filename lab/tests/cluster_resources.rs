//! The cluster configuration `guest/cluster-resources.sh` writes, in both
//! dialects of the cluster stack (see `lab::cluster::pacemaker`), validated against
//! Pacemaker's own schemas: `pacemaker-2.10`, the newest Pacemaker 1.1
//! (RHEL 7) knows, and `pacemaker-3.9` of Pacemaker 2.1 (Debian 12, RHEL
//! 8/9). No RHEL 7 host can run here; its schema can (Debian's
//! pacemaker-common ships every version's, for upgrades).
//!
//! Needs bash, xmllint (libxml2-utils) and /usr/share/pacemaker (pacemaker-common).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use lab::cluster::profile::ProfileName;

const SCHEMAS: &str = "/usr/share/pacemaker";

/// The CIB the script would push for `profile`'s services, for
/// `CLUSTER_STACK=stack`, declared valid against `schema`: the script's own
/// functions, without its last part that talks to a running cluster.
fn cib(profile: ProfileName, stack: &str, schema: &str) -> String {
    cib_at(profile, stack, schema, "1")
}

/// The configuration for hosts `time_factor` times slower than native.
fn cib_at(profile: ProfileName, stack: &str, schema: &str, time_factor: &str) -> String {
    cib_fenced(profile, stack, schema, time_factor, "lab")
}

/// The configuration of a lab fenced by `fencing` (`cluster.fencing`).
fn cib_fenced(profile: ProfileName, stack: &str, schema: &str, time_factor: &str, fencing: &str) -> String {
    cib_with(profile, stack, schema, (time_factor, fencing), &[])
}

/// The configuration with `extra` settings of a topology beside the defaults'.
fn cib_with(
    profile: ProfileName,
    stack: &str,
    schema: &str,
    (time_factor, fencing): (&str, &str),
    extra: &[(&str, &str)],
) -> String {
    // What lab sends: the CIB helpers, each service's fragment, then the script.
    let profile = profile.profile();
    let script = lab::cluster::stack::resources_script(profile.services).render();
    let services: Vec<&str> = profile.services.iter().map(|s| s.cib.name).collect();
    let services = services.join(" ");
    let (functions, _) = script.split_once("\ncib=$(mktemp)").expect("the script's cluster part starts at cib=");
    let program = format!(
        "{functions}\necho \"<cib validate-with=\\\"{schema}\\\" admin_epoch=\\\"0\\\" epoch=\\\"1\\\" num_updates=\\\"0\\\">\
         <configuration><crm_config/><nodes/><resources>$(resources)</resources>\
         <constraints>$(constraints)</constraints></configuration><status/></cib>\"\n"
    );
    let env = [
        ("CLUSTER_STACK", stack),
        ("SERVICES", services.as_str()),
        ("GROUP", profile.group.unwrap_or_default()),
        ("CONTAINER_PG_BINDIR", "/usr/lib/postgresql/15/bin"),
        ("SUBNET", "192.168.89.0/24"),
        ("TIME_FACTOR", time_factor),
        ("NODE_NAMES", "tuchanka-a tuchanka-b"),
        ("PREFIX", "24"),
        ("MASTER_VIP", "192.168.89.103"),
        ("REPLICA_VIP", "192.168.89.104"),
        ("REDIS_VIP", "192.168.89.105"),
        ("PG_BINDIR", "/usr/pgsql-15/bin"),
        ("PG_CONFDIR", "/var/lib/pgsql/15/data"),
        ("PG_DATADIR", "/var/lib/pgsql/15/data"),
        ("PG_PORT", "5432"),
        ("REDIS_CONF", "/etc/redis.conf"),
        ("REDIS_PORT", "6379"),
        ("BEANSTALKD_PORT", "11300"),
        ("MARIADB_PORT", "3306"),
        ("FENCING", fencing),
    ];
    // What each service tells scripts of itself: its storage's and export's names.
    let names = profile.services.iter().flat_map(|s| s.env());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&program)
        .env_clear()
        .envs(env)
        .envs(names)
        .envs(extra.iter().copied())
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

/// Whether xmllint finds `xml` valid against Pacemaker's schema `schema`.
fn validates(xml: &str, schema: &str) -> Result<(), String> {
    let rng = Path::new(SCHEMAS).join(format!("{schema}.rng"));
    assert!(rng.is_file(), "{}: apt-get install pacemaker-common", rng.display());
    let mut child = Command::new("xmllint")
        .args(["--noout", "--relaxng"])
        .arg(&rng)
        .arg("-")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint: apt-get install libxml2-utils");
    child.stdin.take().expect("stdin").write_all(xml.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("xmllint");
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

#[test]
fn each_stack_gets_a_configuration_its_pacemaker_accepts() {
    let old = cib(ProfileName::Tuchanka, "pacemaker-1.1", "pacemaker-2.10");
    validates(&old, "pacemaker-2.10").unwrap_or_else(|e| panic!("Pacemaker 1.1 refuses it: {e}\n{old}"));
    assert!(old.contains("<master id=\"pgsqld-clone\">") && old.contains("<master id=\"redisd-clone\">"), "{old}");
    assert!(old.contains("role=\"Master\"") && !old.contains("Promoted"), "{old}");

    let new = cib(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9");
    validates(&new, "pacemaker-3.9").unwrap_or_else(|e| panic!("Pacemaker 2.1 refuses it: {e}\n{new}"));
    assert!(new.contains("<clone id=\"pgsqld-clone\">") && new.contains("role=\"Promoted\""), "{new}");

    // Why there are two: Pacemaker 1.1 knows no Promoted role.
    let mixed = new.replace("pacemaker-3.9", "pacemaker-2.10");
    assert!(validates(&mixed, "pacemaker-2.10").is_err(), "Pacemaker 1.1 would take Pacemaker 2's configuration");
}

/// Tuchanka's four-node cluster: a replica VIP per replica, each
/// preferring a replica and keeping off the others' nodes.
#[test]
fn several_replica_vips_spread_over_the_replicas() {
    let extra = [
        ("NODE_NAMES", "tuchanka4a tuchanka4b tuchanka4c tuchanka4d"),
        ("MORE_REPLICA_VIPS", "192.168.89.107 192.168.89.108"),
    ];
    let xml = cib_with(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9", ("1", "lab"), &extra);
    validates(&xml, "pacemaker-3.9").unwrap_or_else(|e| panic!("Pacemaker 2.1 refuses it: {e}\n{xml}"));
    for (id, ip) in [("pg-replica-vip", "104"), ("pg-replica-vip-2", "107"), ("pg-replica-vip-3", "108")] {
        assert!(xml.contains(&format!("<primitive id=\"{id}\"")), "{id}: {xml}");
        assert!(xml.contains(&format!("value=\"192.168.89.{ip}\"")), "{id} at .{ip}: {xml}");
        assert!(xml.contains(&format!("id=\"colocation-{id}-pgsqld-clone-100\"")), "{id} prefers a replica");
    }
    for (id, other) in [
        ("pg-replica-vip-2", "pg-replica-vip"),
        ("pg-replica-vip-3", "pg-replica-vip"),
        ("pg-replica-vip-3", "pg-replica-vip-2"),
    ] {
        let apart = format!("rsc=\"{id}\" with-rsc=\"{other}\" score=\"-1000\"");
        assert!(xml.contains(&apart), "{id} keeps off {other}: {xml}");
    }
    let two = cib(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9");
    assert!(!two.contains("pg-replica-vip-2") && !two.contains("-1000"), "one replica VIP by default: {two}");
}

/// Tuchanka's first cluster: two databases under PAF, each at home on its
/// own node (Tuchanka's rule), a master VIP each and no replica VIP; both
/// Pacemakers accept it.
#[test]
fn two_consolidated_databases_are_each_at_home_on_their_own_node() {
    let extra = [("NODE_NAMES", "tuchanka1a tuchanka1b"), ("SECOND_MASTER_VIP", "192.168.89.102")];
    for (stack, schema) in [("pacemaker-2", "pacemaker-3.9"), ("pacemaker-1.1", "pacemaker-2.10")] {
        let xml = cib_with(ProfileName::Tuchanka1, stack, schema, ("1", "lab"), &extra);
        validates(&xml, schema).unwrap_or_else(|e| panic!("{stack} refuses it: {e}\n{xml}"));
        for (clone, home) in [("pgsqld-clone", "tuchanka1a"), ("pgsqld-b-clone", "tuchanka1b")] {
            let rule = format!("<rsc_location id=\"location-{clone}-home\" rsc=\"{clone}\">");
            assert!(xml.contains(&rule), "{clone} has a home: {xml}");
            let at = xml.find(&rule).expect("rule");
            assert!(xml[at..].contains(&format!("value=\"{home}\"")), "{clone} at home on {home}");
        }
        assert!(
            xml.contains("name=\"pgport\" value=\"5434\"") && xml.contains("/15/b\""),
            "the second database: {xml}"
        );
        assert!(xml.contains("value=\"192.168.89.102\""), "its VIP: {xml}");
        assert!(!xml.contains("pg-replica-vip"), "no replica VIP: {xml}");
    }
}

/// Native and KVM hosts get the monitor intervals detection is tuned for;
/// TCG hosts (time factor 16) get every timeout x16 and intervals x4 at
/// most (monitors at native intervals saturated their emulated CPU).
#[test]
fn emulated_hosts_get_longer_timeouts_and_sparser_monitors() {
    let native = cib(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9");
    let monitor = "name=\"monitor\" interval=\"5s\" timeout=\"10s\" role=\"Promoted\"";
    assert!(native.contains(monitor), "{native}");
    let tcg = cib_at(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9", "16");
    validates(&tcg, "pacemaker-3.9").unwrap_or_else(|e| panic!("Pacemaker 2.1 refuses it: {e}\n{tcg}"));
    let stretched = "name=\"monitor\" interval=\"20s\" timeout=\"160s\" role=\"Promoted\"";
    assert!(tcg.contains(stretched), "{tcg}");
    assert!(tcg.contains("name=\"monitor\" interval=\"240s\" timeout=\"320s\""), "fencing devices: {tcg}");
    let slow = cib_at(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9", "2");
    assert!(slow.contains("name=\"monitor\" interval=\"10s\" timeout=\"20s\" role=\"Promoted\""), "{slow}");
}

/// With sbd the survivors have no device to ask: no fence_lab primitive,
/// nor its location constraint (the watchdog timeout is a cluster
/// property, set by the script's cluster part).
#[test]
fn a_lab_fenced_by_sbd_has_no_fence_devices() {
    let lab = cib(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9");
    assert!(lab.contains("type=\"fence_lab\"") && lab.contains("rsc=\"fence-tuchanka-a\""), "{lab}");
    let sbd = cib_fenced(ProfileName::Tuchanka, "pacemaker-2", "pacemaker-3.9", "1", "sbd");
    validates(&sbd, "pacemaker-3.9").unwrap_or_else(|e| panic!("Pacemaker 2.1 refuses it: {e}\n{sbd}"));
    assert!(!sbd.contains("fence_lab") && !sbd.contains("fence-tuchanka"), "{sbd}");
    assert!(sbd.contains("<clone id=\"pgsqld-clone\">"), "the services stay: {sbd}");
    let script = lab::cluster::stack::resources_script(ProfileName::Tuchanka.profile().services).render();
    assert!(script.contains("--name stonith-watchdog-timeout"), "set with sbd: {script}");
}

/// skyha (seed 000): the DRBD clone, and the group on its primary in the
/// seed's order, colocated with and ordered after the promotion.
#[test]
fn skyha_gets_the_seeds_group_on_the_drbd_primary() {
    let xml = cib(ProfileName::Skyha, "pacemaker-2", "pacemaker-3.9");
    validates(&xml, "pacemaker-3.9").unwrap_or_else(|e| panic!("Pacemaker 2.1 refuses it: {e}\n{xml}"));
    assert!(xml.contains("<clone id=\"drbd-cluster\">") && xml.contains("type=\"drbd\""), "{xml}");
    let group = &xml[xml.find("<group id=\"master-group\">").expect("the group")..];
    let order: Vec<usize> = ["skyfs", "vip-master", "postgres", "redis", "bstkd", "nfs-daemon", "nfs-root"]
        .iter()
        .map(|id| group.find(&format!("<primitive id=\"{id}\"")).unwrap_or_else(|| panic!("{id} not in the group")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "the seed's order: {order:?}");
    assert!(group.contains("name=\"allow_pull\" value=\"false\""), "no registry is reachable: {group}");
    assert!(
        xml.contains("rsc=\"master-group\" with-rsc=\"drbd-cluster\" with-rsc-role=\"Promoted\"")
            && xml.contains("first=\"drbd-cluster\" first-action=\"promote\" then=\"master-group\""),
        "{xml}"
    );
}

/// Seed 004: DataClone, and on its primary the group nfsshare in the
/// seed's order (the VIP first, nfsnotify last), exporting /nfsdata to
/// anyone with fsid 0.
#[test]
fn drbd_nfs_gets_seed_004_s_group_on_the_drbd_primary() {
    let xml = cib(ProfileName::DrbdNfs, "pacemaker-2", "pacemaker-3.9");
    validates(&xml, "pacemaker-3.9").unwrap_or_else(|e| panic!("Pacemaker 2.1 refuses it: {e}\n{xml}"));
    let old = cib(ProfileName::DrbdNfs, "pacemaker-1.1", "pacemaker-2.10");
    validates(&old, "pacemaker-2.10").unwrap_or_else(|e| panic!("Pacemaker 1.1 refuses it: {e}\n{old}"));
    assert!(xml.contains("<clone id=\"DataClone\">") && xml.contains("<primitive id=\"Data\""), "{xml}");
    assert!(xml.contains("name=\"drbd_resource\" value=\"data\""), "{xml}");
    let group = &xml[xml.find("<group id=\"nfsshare\">").expect("the group")..];
    let order: Vec<usize> = ["nfs_ip", "NFS", "nfs-daemon", "nfs-root", "nfs-notify"]
        .iter()
        .map(|id| group.find(&format!("<primitive id=\"{id}\"")).unwrap_or_else(|| panic!("{id} not in the group")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "the seed's order: {order:?}");
    for pair in [
        "name=\"fstype\" value=\"xfs\"",
        "name=\"directory\" value=\"/nfsdata\"",
        "name=\"clientspec\" value=\"*\"",
        "name=\"fsid\" value=\"0\"",
        "name=\"nfs_shared_infodir\" value=\"/nfsdata\"",
        "name=\"source_host\" value=\"192.168.89.103\"",
    ] {
        assert!(group.contains(pair), "{pair}: {group}");
    }
    assert!(
        xml.contains("rsc=\"nfsshare\" with-rsc=\"DataClone\" with-rsc-role=\"Promoted\"")
            && xml.contains("first=\"DataClone\" first-action=\"promote\" then=\"nfsshare\""),
        "{xml}"
    );
}

/// Seed 003: ms_drbd_mysql, and on its primary the group g_mysql in the
/// seed's order (VIP, file system, MariaDB), MariaDB on the VIP.
#[test]
fn drbd_mariadb_gets_seed_003_s_group_on_the_drbd_primary() {
    let xml = cib(ProfileName::DrbdMariadb, "pacemaker-2", "pacemaker-3.9");
    validates(&xml, "pacemaker-3.9").unwrap_or_else(|e| panic!("Pacemaker 2.1 refuses it: {e}\n{xml}"));
    let old = cib(ProfileName::DrbdMariadb, "pacemaker-1.1", "pacemaker-2.10");
    validates(&old, "pacemaker-2.10").unwrap_or_else(|e| panic!("Pacemaker 1.1 refuses it: {e}\n{old}"));
    assert!(xml.contains("<clone id=\"ms_drbd_mysql\">") && xml.contains("name=\"drbd_resource\" value=\"mysql_res\""));
    let group = &xml[xml.find("<group id=\"g_mysql\">").expect("the group")..];
    let order: Vec<usize> = ["p_ip_mysql", "p_fs_mysql", "p_mysql"]
        .iter()
        .map(|id| group.find(&format!("<primitive id=\"{id}\"")).unwrap_or_else(|| panic!("{id} not in the group")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "the seed's order: {order:?}");
    for pair in [
        "name=\"device\" value=\"/dev/drbd0\"",
        "name=\"directory\" value=\"/var/lib/mysql\"",
        "name=\"fstype\" value=\"xfs\"",
        "type=\"mysql\"",
        "value=\"--bind-address=192.168.89.103 --port=3306 --skip-name-resolve\"",
    ] {
        assert!(group.contains(pair), "{pair}: {group}");
    }
}
