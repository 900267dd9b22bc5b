//! The kickstart that installs one RHEL-like host from its ISO, and the two
//! ways it reaches the installer.
//!
//! What it makes is Tuchanka's host: one partition and no swap, the stack's
//! packages (see [`crate::install::distro`]), a static address on the lab subnet,
//! root's ssh key from the given `.pub` (written by a single-quoted `echo`,
//! hence [`crate::install::pubkey`]'s rule about `'`), the cluster never started at
//! boot, firewalld open for the stack, and the machine powered off at the
//! end, so that lab can take the `install` snapshot. The root password is
//! generated per lab and only its SHA-512 crypt hash is written here (see
//! [`crate::install::sha_crypt`]). The node's own files (identity, host keys, fence
//! agent: [`GuestFile`]s) are carried in `%post` as base64, since no one
//! can write into the new disk before it boots.
//!
//! Delivery: an ISO labelled `OEMDRV` holding `ks.cfg` (anaconda reads it
//! from any disk with that label; [`oemdrv_image`]) plus [`KS_ARG`] on the
//! kernel command line of the QEMU backend ([`qemu_install_args`], which
//! boots the ISO's own installer kernel), or VirtualBox's `unattended
//! install --script-template`, which takes the text as it is (it contains no
//! `@@VBOX_` placeholders).
//!
//! Layout of the text: installer settings, network, disk, `%packages`,
//! `%addon` (no kdump, as Tuchanka), `%post`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::backend::GuestFile;
use crate::guest::shell_quote;
use crate::host::HostError;
use crate::install::distro::{Family, Firewall, Repo};
use crate::install::iso::IsoInfo;
use crate::install::pubkey::PublicKey;
use crate::topology::{HostSpec, Topology};

/// The volume label anaconda searches for a kickstart on.
pub const OEMDRV_LABEL: &str = "OEMDRV";
/// The kickstart's name on the OEMDRV image.
pub const KS_FILE: &str = "ks.cfg";
/// The kernel argument pointing the installer at the OEMDRV kickstart
/// (`inst.ks` is understood by 7, 8 and 9).
pub const KS_ARG: &str = "inst.ks=hd:LABEL=OEMDRV:/ks.cfg";

/// Everything that differs between two installed hosts.
#[derive(Clone, Debug)]
pub struct KickstartInput {
    pub hostname: String,
    /// The host's address on the lab subnet; no gateway: the lab routes nowhere.
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// The lab network card, as `network --device` takes it: a MAC address
    /// (reliable whatever the interface is called) or `link`.
    pub lab_nic: String,
    /// A second card (MAC) configured by DHCP with the default route, for
    /// the package repositories (Tuchanka's NAT interface); `None` when the
    /// repositories are reachable without one.
    pub uplink_nic: Option<String>,
    /// The installation disk (`sda` on SATA, `vda` on virtio).
    pub disk: String,
    pub family: Family,
    /// The distribution and version, for the header (`Rocky Linux 9.3`).
    pub release: String,
    pub pg_version: u32,
    pub pg_port: u16,
    pub redis_port: u16,
    pub root_key: PublicKey,
    /// `$6$...` (see [`crate::install::sha_crypt::hash_password`]); never the password.
    pub root_password_hash: String,
    /// The repositories installed from besides the ISO.
    pub repos: Vec<Repo>,
    /// Extra arguments of the installed kernel (the bootloader's `--append`).
    pub boot_args: Vec<String>,
    /// Files placed on the host in `%post`.
    pub files: Vec<GuestFile>,
}

/// What the hosts of a lab are installed from, whatever runs them: the
/// ISO, root's key and password hash, and where the packages the ISO lacks
/// come from (the vendors' repositories through VirtualBox's NAT card, or
/// lab's own copy of them inside a QEMU lab, see [`crate::install::repo_mirror`]).
#[derive(Clone, Debug)]
pub struct IsoInstall {
    pub iso: PathBuf,
    pub info: IsoInfo,
    pub root_key: PublicKey,
    /// SHA-512 crypt hash of the lab's root password.
    pub root_password_hash: String,
    pub repos: Vec<Repo>,
}

/// How a backend's VM sees its hardware, for the kickstart.
#[derive(Clone, Debug)]
pub struct Machine {
    /// See [`KickstartInput::lab_nic`].
    pub lab_nic: String,
    /// See [`KickstartInput::uplink_nic`].
    pub uplink_nic: Option<String>,
    /// See [`KickstartInput::disk`].
    pub disk: String,
    /// See [`KickstartInput::boot_args`].
    pub boot_args: Vec<String>,
}

impl IsoInstall {
    /// The kickstart of `host` of `topology` on `machine`.
    pub fn kickstart(
        &self,
        host: &HostSpec,
        topology: &Topology,
        machine: Machine,
        files: &[GuestFile],
    ) -> Result<String, KickstartError> {
        render(&KickstartInput {
            hostname: host.name.clone(),
            address: host.address,
            prefix: topology.prefix,
            lab_nic: machine.lab_nic,
            uplink_nic: machine.uplink_nic,
            disk: machine.disk,
            family: self.info.family,
            release: format!("{} {}", self.info.name, self.info.version),
            pg_version: topology.pg_version,
            pg_port: topology.pg_port,
            redis_port: topology.redis_port,
            root_key: self.root_key.clone(),
            root_password_hash: self.root_password_hash.clone(),
            repos: self.repos.clone(),
            boot_args: machine.boot_args,
            files: files.to_vec(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KickstartError {
    #[error("kickstart for `{host}`: {family} hosts are not installed with a kickstart; use a RHEL-like ISO")]
    NotRhel { host: String, family: Family },
    #[error("kickstart for `{host}`: {field} `{value}` {problem}")]
    Field { host: String, field: &'static str, value: String, problem: &'static str },
    #[error("kickstart image {}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("kickstart image {}: {source}", path.display())]
    Build { path: PathBuf, source: HostError },
}

impl KickstartInput {
    fn check(&self) -> Result<u32, KickstartError> {
        let field = |field, value: &str, problem| KickstartError::Field {
            host: self.hostname.clone(),
            field,
            value: value.to_owned(),
            problem,
        };
        let Family::RhelLike { major, .. } = self.family else {
            return Err(KickstartError::NotRhel { host: self.hostname.clone(), family: self.family });
        };
        let name_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !name_ok(&self.hostname) || self.hostname.starts_with('-') {
            return Err(field("hostname", &self.hostname, "is not a host name (letters, digits, `-`)"));
        }
        if !name_ok(&self.disk) {
            return Err(field("disk", &self.disk, "is not a disk name such as `sda`"));
        }
        if !(1..=30).contains(&self.prefix) {
            return Err(field("prefix", &self.prefix.to_string(), "is not a subnet prefix length (1-30)"));
        }
        for nic in std::iter::once(&self.lab_nic).chain(&self.uplink_nic) {
            if nic != "link" && !is_mac(nic) {
                return Err(field("network card", nic, "is neither a MAC address (aa:bb:cc:dd:ee:ff) nor `link`"));
            }
        }
        let arg_ok = |a: &String| !a.is_empty() && a.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
        if let Some(arg) = self.boot_args.iter().find(|a| !arg_ok(a)) {
            return Err(field("kernel argument", arg, "is not one word without quotes"));
        }
        for repo in &self.repos {
            if !name_ok(&repo.name) {
                return Err(field("repository name", &repo.name, "is not a name (letters, digits, `-`)"));
            }
            if repo.baseurl.is_empty() || !repo.baseurl.chars().all(|c| c.is_ascii_graphic() && c != '"') {
                return Err(field("repository URL", &repo.baseurl, "is not a URL without spaces or quotes"));
            }
        }
        let hash = &self.root_password_hash;
        let crypt_chars = |c: char| c.is_ascii_alphanumeric() || "./$=".contains(c);
        if !hash.starts_with("$6$") || hash.split('$').count() < 4 || !hash.chars().all(crypt_chars) {
            return Err(field(
                "root password hash",
                "(hidden)",
                "is not a SHA-512 crypt hash ($6$salt$hash); make it with sha_crypt::hash_password",
            ));
        }
        Ok(major)
    }
}

fn is_mac(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The kickstart text for one host.
pub fn render(input: &KickstartInput) -> Result<String, KickstartError> {
    let major = input.check()?;
    let disk = &input.disk;
    let mut ks = String::new();
    // `writeln!` into a String cannot fail.
    macro_rules! emit {
        ($($arg:tt)*) => {{
            let _ = writeln!(ks, $($arg)*);
        }};
    }
    emit!("# Kickstart for lab host `{}` ({}), generated by lab: do not edit.", input.hostname, input.release);
    emit!("# Tuchanka's install: one partition, no swap, root's key, the stack's packages, powered off at the end.");
    emit!("cmdline");
    emit!("cdrom");
    emit!("lang en_US.UTF-8");
    emit!("keyboard --vckeymap=us --xlayouts=us");
    emit!("timezone UTC --utc");
    emit!("rootpw --iscrypted {}", input.root_password_hash);
    emit!("selinux --enforcing");
    emit!("firstboot --disable");
    emit!("skipx");
    emit!();
    emit!("# Network: a static address on the lab subnet, no gateway (the lab routes nowhere).");
    emit!(
        "network --device={} --bootproto=static --ip={} --netmask={} --nodefroute --noipv6 --activate --hostname={}",
        input.lab_nic,
        input.address,
        crate::topology::netmask(input.prefix),
        input.hostname
    );
    if let Some(uplink) = &input.uplink_nic {
        emit!("# The uplink, for the package repositories only.");
        emit!("network --device={uplink} --bootproto=dhcp --noipv6 --activate");
    }
    match input.family.firewall(input.pg_port, input.redis_port) {
        Firewall::Firewalld { services, tcp_ports } => {
            let ports: Vec<String> = tcp_ports.iter().map(|p| format!("{p}:tcp")).collect();
            emit!("firewall --enabled --service={} --port={}", services.join(","), ports.join(","));
        }
        Firewall::None => emit!("firewall --disabled"),
    }
    emit!("services --enabled=sshd,chronyd,pcsd");
    for repo in &input.repos {
        emit!("repo --name={} --baseurl={}", repo.name, repo.baseurl);
    }
    emit!();
    emit!("# Disk: one partition, no swap.");
    emit!("ignoredisk --only-use={disk}");
    emit!("zerombr");
    emit!("clearpart --all --initlabel --disklabel=msdos --drives={disk}");
    let mut boot_args = vec!["console=tty0".to_owned(), "console=ttyS0,115200n8".to_owned()];
    boot_args.extend(input.boot_args.iter().cloned());
    emit!("bootloader --location=mbr --boot-drive={disk} --timeout=1 --append=\"{}\"", boot_args.join(" "));
    emit!("part / --fstype=xfs --size=1024 --grow --asprimary --ondisk={disk}");
    emit!();
    emit!("# The end of the install stage: powered off, ready for the `install` snapshot.");
    emit!("poweroff");
    emit!();
    emit!("%packages");
    emit!("@core");
    for package in input.family.packages(input.pg_version) {
        emit!("{package}");
    }
    emit!("%end");
    emit!();
    emit!("%addon com_redhat_kdump --disable");
    emit!("%end");
    emit!();
    emit!("%post --erroronfail --log=/root/lab-kickstart-post.log");
    emit!("set -eu");
    for file in &input.files {
        write_file(&mut ks, file);
    }
    if input.files.iter().any(|f| f.path.starts_with("/etc/ssh/sshd_config.d")) && major < 9 {
        emit!("# sshd reads sshd_config.d only from 9 on.");
        emit!("grep -q '^Include /etc/ssh/sshd_config.d/' /etc/ssh/sshd_config \\");
        emit!("    || sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config");
    }
    let key = shell_quote(&input.root_key.line());
    emit!("# Root's key from the .pub given to lab make-all.");
    emit!("install -d -m 0700 /root/.ssh");
    emit!("grep -qxF {key} /root/.ssh/authorized_keys 2>/dev/null \\");
    emit!("    || echo {key} >> /root/.ssh/authorized_keys");
    emit!("chmod 0600 /root/.ssh/authorized_keys");
    let mut relabel = vec!["/root/.ssh".to_owned()];
    relabel.extend(input.files.iter().map(|f| shell_quote(&f.path.to_string_lossy())));
    emit!("restorecon -R {}", relabel.join(" "));
    emit!("# A node joins the cluster when an operator (or lab) says so, never at boot.");
    emit!("systemctl disable corosync.service pacemaker.service corosync-qdevice.service");
    emit!("# fence_lab asks the host's fence daemon over TCP; not fatal here, the setup checks fencing.");
    emit!("setsebool -P fenced_can_network_connect on || echo 'lab: setsebool fenced_can_network_connect failed' >&2");
    emit!("%end");
    Ok(ks)
}

/// The `%post` lines that place one file (or symbolic link).
fn write_file(ks: &mut String, file: &GuestFile) {
    let path = file.path.to_string_lossy();
    let quoted = shell_quote(&path);
    let parent = file.path.parent().map_or("/".into(), |p| p.to_string_lossy().into_owned());
    let _ = writeln!(ks, "mkdir -p {}", shell_quote(&parent));
    if let Some(target) = &file.link_target {
        let _ = writeln!(ks, "ln -sfn {} {quoted}", shell_quote(&target.to_string_lossy()));
        return;
    }
    let _ = writeln!(ks, "base64 -d > {quoted} <<'LAB_FILE'");
    let encoded = BASE64.encode(&file.contents);
    for chunk in encoded.as_bytes().chunks(76) {
        let _ = writeln!(ks, "{}", String::from_utf8_lossy(chunk));
    }
    let _ = writeln!(ks, "LAB_FILE");
    let _ = writeln!(ks, "chmod {:04o} {quoted}", file.mode & 0o7777);
}

/// Writes `kickstart` as `ks.cfg` on a small ISO labelled `OEMDRV` at `out`.
pub fn oemdrv_image(kickstart: &str, out: &Path) -> Result<(), KickstartError> {
    let write_error = |source| KickstartError::Write { path: out.to_owned(), source };
    let scratch = tempfile::tempdir().map_err(write_error)?;
    std::fs::write(scratch.path().join(KS_FILE), kickstart).map_err(write_error)?;
    match std::fs::remove_file(out) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(write_error(error)),
        _ => {}
    }
    crate::install::iso::xorriso([
        "-as".as_ref(),
        "mkisofs".as_ref(),
        "-V".as_ref(),
        OEMDRV_LABEL.as_ref(),
        "-R".as_ref(),
        "-J".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        scratch.path().as_os_str(),
    ])
    .map_err(|source| KickstartError::Build { path: out.to_owned(), source })?;
    Ok(())
}

/// A volume label as the installer's `hd:LABEL=` takes it: anything but
/// letters, digits, `.`, `_` and `-` written `\xHH` (`CentOS\x207\x20x86_64`).
pub fn escape_label(label: &str) -> String {
    let mut escaped = String::new();
    for byte in label.bytes() {
        if byte.is_ascii_alphanumeric() || b"._-".contains(&byte) {
            escaped.push(char::from(byte));
        } else {
            let _ = write!(escaped, "\\x{byte:02x}");
        }
    }
    escaped
}

/// A path as a QEMU option value (`,` is the separator, doubled to escape).
fn qemu_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// QEMU arguments that install one VM from `iso`: the ISO's own installer
/// kernel and initrd (extracted with [`crate::install::iso::extract`]), the ISO as a
/// CD-ROM for the second stage and the packages, and the OEMDRV image
/// holding the kickstart.
pub fn qemu_install_args(iso: &Path, info: &IsoInfo, kernel: &Path, initrd: &Path, oemdrv: &Path) -> Vec<String> {
    let append = format!("inst.stage2=hd:LABEL={} {KS_ARG} console=ttyS0 inst.text", escape_label(&info.volume_id));
    vec![
        "-kernel".into(),
        kernel.to_string_lossy().into_owned(),
        "-initrd".into(),
        initrd.to_string_lossy().into_owned(),
        "-append".into(),
        append,
        "-drive".into(),
        format!("file={},media=cdrom,readonly=on", qemu_value(iso)),
        "-drive".into(),
        format!("file={},media=cdrom,readonly=on", qemu_value(oemdrv)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::distro::Vendor;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL4z5iK1D0NdwKlKdYJs20SxkDKdkhnfEzRV6zjg1GR7 o'brien@laptop";

    fn input(family: Family, hostname: &str) -> KickstartInput {
        KickstartInput {
            hostname: hostname.into(),
            address: Ipv4Addr::new(192, 168, 89, 11),
            prefix: 24,
            lab_nic: "08:00:27:89:00:0b".into(),
            uplink_nic: Some("08:00:27:a9:00:0b".into()),
            disk: "sda".into(),
            family,
            release: "CentOS 7".into(),
            pg_version: 15,
            pg_port: 5432,
            redis_port: 6379,
            root_key: PublicKey::parse(KEY).expect("key"),
            root_password_hash: crate::install::sha_crypt::hash_password_with_salt("per-lab secret", b"lab salt 123"),
            repos: family.repos(15),
            boot_args: Vec::new(),
            files: vec![
                GuestFile::new("/etc/hostname", format!("{hostname}\n").into_bytes(), 0o644),
                GuestFile::new("/etc/ssh/sshd_config.d/lab.conf", b"PasswordAuthentication no\n".to_vec(), 0o644),
                GuestFile::symlink(
                    "/etc/systemd/system/multi-user.target.wants/lab.service",
                    "/usr/lib/systemd/system/lab.service",
                ),
            ],
        }
    }

    /// Compares with `tests/data/kickstart/<name>.ks`; `UPDATE_GOLDEN=1`
    /// rewrites the file instead.
    fn golden(name: &str, text: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kickstart").join(format!("{name}.ks"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write golden");
        }
        let expected = std::fs::read_to_string(&path).expect("golden file (UPDATE_GOLDEN=1 makes it)");
        assert_eq!(text, expected, "{} differs; UPDATE_GOLDEN=1 rewrites it", path.display());
    }

    #[test]
    fn centos7_node_matches_golden() {
        let text = render(&input(Family::RhelLike { vendor: Vendor::CentOs, major: 7 }, "node1")).expect("render");
        golden("centos7-node1", &text);
    }

    #[test]
    fn rocky9_witness_matches_golden() {
        let mut input = input(Family::RhelLike { vendor: Vendor::Rocky, major: 9 }, "witness");
        input.release = "Rocky Linux 9.3".into();
        // As the QEMU backend installs it: lab's mirror, a TCG guest's clock.
        input.uplink_nic = None;
        input.disk = "vda".into();
        input.repos = vec![Repo {
            name: "highavailability".into(),
            baseurl: "http://192.168.89.1:8089/highavailability/".into(),
        }];
        input.boot_args = vec!["clocksource=hpet".into(), "tsc=unstable".into()];
        let text = render(&input).expect("render");
        golden("rocky9-witness", &text);
    }

    #[test]
    fn the_kickstart_is_tuchankas_install() {
        let text = render(&input(Family::RhelLike { vendor: Vendor::CentOs, major: 7 }, "node1")).expect("render");
        let lines: Vec<&str> = text.lines().collect();
        let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
        assert_eq!(lines.iter().filter(|l| l.starts_with("part ")).count(), 1, "one partition");
        assert!(has("part / --fstype=xfs"));
        assert!(!has("autopart") && !has("part swap") && !text.contains("fstype=swap"), "no swap, no autopart");
        assert!(has("zerombr") && has("clearpart --all --initlabel") && has("bootloader "));
        assert!(has("firewall --enabled --service=ssh,high-availability --port=5432:tcp,6379:tcp"));
        assert!(has("systemctl disable corosync.service pacemaker.service"));
        assert!(has("timezone UTC"));
        assert_eq!(lines.iter().filter(|l| **l == "poweroff").count(), 1);
        assert!(lines.contains(&"postgresql15-server"));
        assert!(!text.contains("per-lab secret"), "only the hash");
        assert!(has("rootpw --iscrypted $6$rounds=5000$"));
        assert!(!text.contains("@@VBOX_"), "VirtualBox would substitute it");
        // The comment's quote is escaped inside the single-quoted word.
        assert!(text.contains(r"echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL4z5iK1D0NdwKlKdYJs20SxkDKdkhnfEzRV6zjg1GR7 o'\''brien@laptop' >> /root/.ssh/authorized_keys"));
    }

    /// The `%post` script really places the files and the key: run it with
    /// the paths moved under a scratch root.
    #[test]
    fn post_script_writes_files_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_string_lossy().into_owned();
        let text = render(&input(Family::RhelLike { vendor: Vendor::CentOs, major: 7 }, "node1")).expect("render");
        let post = text.split("%post --erroronfail --log=/root/lab-kickstart-post.log\n").nth(1).expect("%post");
        let post = post.trim_end().strip_suffix("%end").expect("%end");
        let script = post
            .replace("'/etc", &format!("'{root}/etc"))
            .replace(" /root/", &format!(" {root}/root/"))
            .replace(" /etc/ssh/sshd_config \\", &format!(" {root}/etc/ssh/sshd_config \\"))
            .replace(" /etc/ssh/sshd_config\n", &format!(" {root}/etc/ssh/sshd_config\n"))
            .replace("restorecon", "true")
            .replace("systemctl", "true")
            .replace("setsebool", "true");
        std::fs::create_dir_all(dir.path().join("etc/ssh")).expect("mkdir");
        std::fs::write(dir.path().join("etc/ssh/sshd_config"), "PermitRootLogin yes\n").expect("write");
        let status = std::process::Command::new("bash").arg("-c").arg(&script).status().expect("bash");
        assert!(status.success(), "{script}");
        let read = |path: &str| std::fs::read_to_string(dir.path().join(path)).expect(path);
        assert_eq!(read("etc/hostname"), "node1\n");
        assert_eq!(read("etc/ssh/sshd_config.d/lab.conf"), "PasswordAuthentication no\n");
        assert!(read("etc/ssh/sshd_config").starts_with("Include /etc/ssh/sshd_config.d/*.conf\n"));
        assert_eq!(read("root/.ssh/authorized_keys"), format!("{KEY}\n"));
        let link = std::fs::read_link(dir.path().join("etc/systemd/system/multi-user.target.wants/lab.service"));
        assert_eq!(link.expect("link"), Path::new("/usr/lib/systemd/system/lab.service"));
        // Run twice: the key is not added again.
        assert!(std::process::Command::new("bash").arg("-c").arg(&script).status().expect("bash").success());
        assert_eq!(read("root/.ssh/authorized_keys"), format!("{KEY}\n"));
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_field() {
        let base = input(Family::RhelLike { vendor: Vendor::CentOs, major: 7 }, "node1");
        let message = |change: &dyn Fn(&mut KickstartInput)| {
            let mut input = base.clone();
            change(&mut input);
            render(&input).expect_err("refused").to_string()
        };
        let m = message(&|i| i.family = Family::Debian);
        assert!(m.contains("Debian hosts are not installed with a kickstart"), "{m}");
        let m = message(&|i| i.root_password_hash = "changeme".into());
        assert!(m.contains("root password hash `(hidden)` is not a SHA-512 crypt hash"), "{m}");
        assert!(!m.contains("changeme"), "{m}");
        let m = message(&|i| i.hostname = "node 1; reboot".into());
        assert!(m.starts_with("kickstart for `node 1; reboot`: hostname"), "{m}");
        let m = message(&|i| i.boot_args = vec!["a\" rd.break".into()]);
        assert!(m.contains("kernel argument `a\" rd.break` is not one word"), "{m}");
        let m = message(&|i| i.repos[0].name = "base os".into());
        assert!(m.contains("repository name `base os`"), "{m}");
        let m = message(&|i| i.lab_nic = "eth0'".into());
        assert!(m.contains("network card `eth0'` is neither a MAC address"), "{m}");
    }

    #[test]
    fn oemdrv_image_holds_the_kickstart_under_its_label() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("oemdrv.iso");
        oemdrv_image("cmdline\npoweroff\n", &out).expect("build");
        oemdrv_image("cmdline\nreboot\n", &out).expect("rebuild over the old image");
        assert_eq!(crate::install::iso::volume_id(&out).expect("iso"), "OEMDRV");
        let extracted = dir.path().join("ks.cfg");
        crate::install::iso::extract(&out, "/ks.cfg", &extracted).expect("extract");
        assert_eq!(std::fs::read_to_string(&extracted).expect("read"), "cmdline\nreboot\n");
    }

    #[test]
    fn qemu_boots_the_isos_installer_with_the_kickstart() {
        let info = IsoInfo::centos7_example();
        let args = qemu_install_args(
            Path::new("/isos/CentOS-7,x86_64.iso"),
            &info,
            Path::new("/state/node1/vmlinuz"),
            Path::new("/state/node1/initrd.img"),
            Path::new("/state/node1/oemdrv.iso"),
        );
        assert_eq!(
            args,
            [
                "-kernel",
                "/state/node1/vmlinuz",
                "-initrd",
                "/state/node1/initrd.img",
                "-append",
                r"inst.stage2=hd:LABEL=CentOS\x207\x20x86_64 inst.ks=hd:LABEL=OEMDRV:/ks.cfg console=ttyS0 inst.text",
                "-drive",
                "file=/isos/CentOS-7,,x86_64.iso,media=cdrom,readonly=on",
                "-drive",
                "file=/state/node1/oemdrv.iso,media=cdrom,readonly=on",
            ]
        );
        assert_eq!(escape_label("Rocky-9-3-x86_64-dvd"), "Rocky-9-3-x86_64-dvd");
    }
}
