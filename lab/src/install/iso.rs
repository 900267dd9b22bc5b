//! Installation ISOs: what distribution one holds, and files out of it.
//!
//! `lab make-all DISTRO.iso KEY.pub` installs hosts from a RHEL-like ISO
//! with a kickstart (see [`crate::install::kickstart`]). The ISO is checked before
//! anything is created: it must be an ISO 9660 image (the primary volume
//! descriptor at byte 32768) whose `/.treeinfo` names a distribution lab
//! knows how to set the stack up on. `.treeinfo` is INI-like and comes in
//! two shapes:
//!
//! ```text
//! [general]                        [release]
//! family = CentOS                  name = Rocky Linux
//! version = 7                      version = 9.3
//! [images-x86_64]                  [images-x86_64]
//! kernel = images/pxeboot/vmlinuz  kernel = images/pxeboot/vmlinuz
//! initrd = images/pxeboot/initrd.img  ...
//! ```
//!
//! (CentOS 7 on the left, productmd on the right, which also keeps a
//! `[general]` section for old readers). Its `[images-x86_64]` section
//! names the installer's kernel and initrd, which the QEMU backend boots
//! directly.
//!
//! Files are read with `xorriso` (listing and `-extract`), the one tool
//! that also builds the small OEMDRV image the kickstart travels on.

use std::ffi::OsStr;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use crate::host::{Host, HostError};
use crate::install::distro::{Family, Vendor};

/// What `lab make-all` can install from an ISO, for error messages.
pub const SUPPORTED: &str = "RHEL-like 7, 8 or 9: CentOS 7, CentOS Stream 8 or 9, Rocky Linux 8 or 9, AlmaLinux 8 or 9";

/// The ISO tool (`host::REQUIRED_TOOLS` says how to get it).
pub const XORRISO: &str = "xorriso";

/// Where the primary volume descriptor of an ISO 9660 image starts
/// (after 16 sectors of system area).
const PVD_OFFSET: u64 = 16 * 2048;

/// What an installation ISO holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IsoInfo {
    /// The ISO 9660 volume id, e.g. `CentOS 7 x86_64`: the installer finds
    /// its second stage by it (`inst.stage2=hd:LABEL=...`).
    pub volume_id: String,
    pub family: Family,
    /// The distribution's name as `.treeinfo` gives it, e.g. `Rocky Linux`.
    pub name: String,
    /// Its full version, e.g. `9.3` (the major release is in `family`).
    pub version: String,
    /// The installer kernel, a path inside the ISO (`/images/pxeboot/vmlinuz`).
    pub kernel: String,
    /// The installer initrd, a path inside the ISO.
    pub initrd: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    #[error("ISO {}: cannot read: {source}; give the path of a RHEL-like installation ISO ({SUPPORTED})", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "ISO {}: not an ISO 9660 image (no `CD001` volume descriptor at byte 32768); \
         give the path of a RHEL-like installation ISO ({SUPPORTED})", path.display()
    )]
    NotIso { path: PathBuf },
    #[error("ISO {} (volume `{volume_id}`): {reason}; lab installs {SUPPORTED}", path.display())]
    Unrecognised { path: PathBuf, volume_id: String, reason: String },
    #[error("ISO {}: cannot extract {inside}: {source}", path.display())]
    Extract { path: PathBuf, inside: String, source: HostError },
    #[error(transparent)]
    Tool(#[from] HostError),
}

/// Runs xorriso to completion and returns its stdout (its chatter goes to
/// stderr, which a failure reports the tail of).
pub fn xorriso<I, S>(args: I) -> Result<String, HostError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Host.run_blocking(XORRISO, args)
}

/// Checks that `iso` is an installation ISO lab knows and says what it holds.
pub fn inspect(iso: &Path) -> Result<IsoInfo, IsoError> {
    let volume_id = volume_id(iso)?;
    let unrecognised =
        |reason: String| IsoError::Unrecognised { path: iso.to_owned(), volume_id: volume_id.clone(), reason };
    crate::host::require(&[XORRISO])?;
    let root = list_root(iso)?;
    if !root.iter().any(|name| name == ".treeinfo") {
        let guess = if root.iter().any(|name| name == ".disk") { " (a Debian or Ubuntu ISO?)" } else { "" };
        return Err(unrecognised(format!("it has no /.treeinfo, so it is not a RHEL-like installation ISO{guess}")));
    }
    let scratch = tempfile::tempdir().map_err(|source| IsoError::Read { path: std::env::temp_dir(), source })?;
    let treeinfo_path = scratch.path().join("treeinfo");
    extract(iso, "/.treeinfo", &treeinfo_path)?;
    let text = std::fs::read_to_string(&treeinfo_path)
        .map_err(|source| IsoError::Read { path: treeinfo_path.clone(), source })?;
    let treeinfo = TreeInfo::parse(&text);
    let release = treeinfo.release().ok_or_else(|| unrecognised("its /.treeinfo names no distribution".into()))?;
    let family = release.family().map_err(unrecognised)?;
    let (kernel, initrd) = treeinfo.installer();
    Ok(IsoInfo { volume_id, family, name: release.name, version: release.version, kernel, initrd })
}

/// Copies the file `inside` (an absolute path in the ISO) to `dest`.
pub fn extract(iso: &Path, inside: &str, dest: &Path) -> Result<(), IsoError> {
    xorriso([
        "-osirrox".as_ref(),
        "on".as_ref(),
        "-indev".as_ref(),
        iso.as_os_str(),
        "-extract".as_ref(),
        inside.as_ref(),
        dest.as_os_str(),
    ])
    .map_err(|source| match source {
        missing @ HostError::Missing { .. } => IsoError::Tool(missing),
        source => IsoError::Extract { path: iso.to_owned(), inside: inside.to_owned(), source },
    })?;
    // Files on an ISO are read-only; the copy must stay replaceable.
    if let Ok(meta) = std::fs::metadata(dest) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() | 0o200;
        let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode));
    }
    Ok(())
}

/// The volume id from the primary volume descriptor (bytes 40..72,
/// space-padded), after checking that there is one.
pub fn volume_id(iso: &Path) -> Result<String, IsoError> {
    let read_error = |source| IsoError::Read { path: iso.to_owned(), source };
    let mut file = std::fs::File::open(iso).map_err(read_error)?;
    if file.metadata().map_err(read_error)?.is_dir() {
        return Err(read_error(std::io::Error::other("it is a directory")));
    }
    let mut descriptor = [0u8; 2048];
    file.seek(std::io::SeekFrom::Start(PVD_OFFSET)).map_err(read_error)?;
    let complete = file.read_exact(&mut descriptor).is_ok();
    if !complete || descriptor[0] != 1 || &descriptor[1..6] != b"CD001" {
        return Err(IsoError::NotIso { path: iso.to_owned() });
    }
    Ok(String::from_utf8_lossy(&descriptor[40..72]).trim_end_matches([' ', '\0']).to_owned())
}

/// Names in the ISO's root directory.
fn list_root(iso: &Path) -> Result<Vec<String>, IsoError> {
    let listing = xorriso(["-indev".as_ref(), iso.as_os_str(), "-ls".as_ref(), "/".as_ref()])?;
    Ok(listing.lines().map(|line| line.trim().trim_matches('\'').to_owned()).filter(|n| !n.is_empty()).collect())
}

/// A parsed `.treeinfo`: sections of `key = value`.
#[derive(Debug, Default)]
struct TreeInfo {
    sections: Vec<(String, Vec<(String, String)>)>,
}

/// A distribution name and version as `.treeinfo` gives them.
#[derive(Debug, PartialEq, Eq)]
struct Release {
    name: String,
    version: String,
}

impl TreeInfo {
    fn parse(text: &str) -> Self {
        let mut info = TreeInfo::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with([';', '#']) {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                info.sections.push((section.trim().to_owned(), Vec::new()));
            } else if let (Some((key, value)), Some((_, entries))) = (line.split_once('='), info.sections.last_mut()) {
                entries.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        info
    }

    fn get(&self, section: &str, key: &str) -> Option<&str> {
        let (_, entries) = self.sections.iter().find(|(name, _)| name == section)?;
        entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// productmd's `[release]`, else the older `[general]` family.
    fn release(&self) -> Option<Release> {
        let (name, version) = match (self.get("release", "name"), self.get("release", "version")) {
            (Some(name), Some(version)) => (name, version),
            _ => (self.get("general", "family")?, self.get("general", "version")?),
        };
        Some(Release { name: name.to_owned(), version: version.to_owned() })
    }

    /// The installer's kernel and initrd (x86_64), as absolute ISO paths.
    fn installer(&self) -> (String, String) {
        let image = |key: &str, fallback: &str| {
            let path = self.get("images-x86_64", key).unwrap_or(fallback);
            format!("/{}", path.trim_start_matches('/'))
        };
        (image("kernel", "isolinux/vmlinuz"), image("initrd", "isolinux/initrd.img"))
    }
}

impl Release {
    /// The family lab sets the stack up for, or why it cannot.
    fn family(&self) -> Result<Family, String> {
        let lower = self.name.to_lowercase();
        let vendor = if lower.starts_with("centos stream") || lower.starts_with("centos-stream") {
            Vendor::CentOsStream
        } else if lower.starts_with("centos") {
            Vendor::CentOs
        } else if lower.starts_with("rocky") {
            Vendor::Rocky
        } else if lower.starts_with("almalinux") {
            Vendor::Alma
        } else {
            return Err(format!("it holds {} {}, which lab does not install", self.name, self.version));
        };
        let major = self
            .version
            .split(['.', '-', ' '])
            .next()
            .and_then(|major| major.parse::<u32>().ok())
            .ok_or_else(|| format!("its /.treeinfo gives the version `{}`, not a release number", self.version))?;
        let supported = match vendor {
            Vendor::CentOs => major == 7,
            Vendor::CentOsStream | Vendor::Rocky | Vendor::Alma => (8..=9).contains(&major),
        };
        if !supported {
            return Err(format!("it holds {} {}, a release lab does not install", self.name, self.version));
        }
        Ok(Family::RhelLike { vendor, major })
    }
}

/// Small ISOs for tests, built with xorriso like the real ones.
#[cfg(test)]
pub(crate) mod test_iso {
    use std::path::{Path, PathBuf};

    /// Builds `dir/<name>.iso` labelled `label` holding `files` (path, contents).
    pub(crate) fn build(dir: &Path, name: &str, label: &str, files: &[(&str, &str)]) -> PathBuf {
        let tree = dir.join(format!("{name}.tree"));
        for (path, contents) in files {
            let path = tree.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, contents).expect("write");
        }
        std::fs::create_dir_all(&tree).expect("mkdir");
        let iso = dir.join(format!("{name}.iso"));
        super::xorriso([
            "-as".as_ref(),
            "mkisofs".as_ref(),
            "-V".as_ref(),
            label.as_ref(),
            "-R".as_ref(),
            "-J".as_ref(),
            "-o".as_ref(),
            iso.as_os_str(),
            tree.as_os_str(),
        ])
        .expect("xorriso builds the test ISO");
        iso
    }

    pub(crate) const CENTOS7_TREEINFO: &str = "[general]\nname = CentOS-7\nfamily = CentOS\ntimestamp = 1541703232.12\n\
        variant = \nversion = 7\npackagedir = \narch = x86_64\n\n[stage2]\nmainimage = LiveOS/squashfs.img\n\n\
        [images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\nboot.iso = images/boot.iso\n";

    pub(crate) const ROCKY9_TREEINFO: &str = "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n\
        [release]\nname = Rocky Linux\nshort = Rocky\nversion = 9.3\n\n[tree]\narch = x86_64\nplatforms = x86_64,xen\n\
        variants = AppStream,BaseOS\n\n[images-x86_64]\nefiboot.img = images/efiboot.img\n\
        initrd = images/pxeboot/initrd.img\nkernel = images/pxeboot/vmlinuz\n\n[general]\n\
        ; WARNING.0 = This section provides compatibility with pre-productmd treeinfos.\narch = x86_64\n\
        family = Rocky Linux\nname = Rocky Linux 9.3\nversion = 9.3\n";

    /// An installer tree: `.treeinfo` plus tiny kernel and initrd.
    pub(crate) fn installer(dir: &Path, name: &str, label: &str, treeinfo: &str) -> PathBuf {
        build(
            dir,
            name,
            label,
            &[(".treeinfo", treeinfo), ("images/pxeboot/vmlinuz", "kernel"), ("images/pxeboot/initrd.img", "initrd")],
        )
    }
}

#[cfg(test)]
impl IsoInfo {
    /// What `inspect` finds on a CentOS 7 installation ISO (for tests).
    pub fn centos7_example() -> Self {
        IsoInfo {
            volume_id: "CentOS 7 x86_64".into(),
            family: Family::RhelLike { vendor: crate::install::distro::Vendor::CentOs, major: 7 },
            name: "CentOS".into(),
            version: "7".into(),
            kernel: "/images/pxeboot/vmlinuz".into(),
            initrd: "/images/pxeboot/initrd.img".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_iso::*;
    use super::*;

    #[test]
    fn centos7_iso_is_recognised() {
        let dir = tempfile::tempdir().expect("tempdir");
        let iso = installer(dir.path(), "centos", "CentOS 7 x86_64", CENTOS7_TREEINFO);
        assert_eq!(inspect(&iso).expect("recognised"), IsoInfo::centos7_example());
    }

    #[test]
    fn rocky9_iso_is_recognised_from_its_release_section() {
        let dir = tempfile::tempdir().expect("tempdir");
        let iso = installer(dir.path(), "rocky", "Rocky-9-3-x86_64-dvd", ROCKY9_TREEINFO);
        let info = inspect(&iso).expect("recognised");
        assert_eq!(info.family, Family::RhelLike { vendor: Vendor::Rocky, major: 9 });
        assert_eq!((info.name.as_str(), info.version.as_str()), ("Rocky Linux", "9.3"));
        assert_eq!(info.volume_id, "Rocky-9-3-x86_64-dvd");
        assert_eq!(info.kernel, "/images/pxeboot/vmlinuz");
    }

    #[test]
    fn extract_copies_the_installer_kernel_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let iso = installer(dir.path(), "centos", "CentOS 7 x86_64", CENTOS7_TREEINFO);
        let info = inspect(&iso).expect("recognised");
        let kernel = dir.path().join("vmlinuz");
        extract(&iso, &info.kernel, &kernel).expect("extract");
        assert_eq!(std::fs::read_to_string(&kernel).expect("read"), "kernel");
        extract(&iso, &info.kernel, &kernel).expect("extracting again replaces the copy");

        let message = extract(&iso, "/images/nothing", &dir.path().join("x")).expect_err("missing").to_string();
        assert!(message.starts_with(&format!("ISO {}: cannot extract /images/nothing", iso.display())), "{message}");
    }

    #[test]
    fn isolinux_kernel_is_the_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let treeinfo = "[general]\nfamily = AlmaLinux\nversion = 8.9\n";
        let iso = build(dir.path(), "alma", "AlmaLinux-8-9-x86_64-dvd", &[(".treeinfo", treeinfo)]);
        let info = inspect(&iso).expect("recognised");
        assert_eq!(info.family, Family::RhelLike { vendor: Vendor::Alma, major: 8 });
        assert_eq!((info.kernel.as_str(), info.initrd.as_str()), ("/isolinux/vmlinuz", "/isolinux/initrd.img"));
    }

    #[test]
    fn debian_iso_is_refused_naming_what_is_supported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let iso = build(dir.path(), "debian", "Debian 12.5.0 amd64 n", &[(".disk/info", "Debian GNU/Linux 12.5.0")]);
        let message = inspect(&iso).expect_err("debian").to_string();
        assert!(message.starts_with(&format!("ISO {} (volume `Debian 12.5.0 amd64 n`)", iso.display())), "{message}");
        assert!(message.contains("no /.treeinfo"), "{message}");
        assert!(message.contains("Debian or Ubuntu"), "{message}");
        assert!(message.contains(SUPPORTED), "{message}");
    }

    #[test]
    fn unsupported_distributions_and_releases_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, treeinfo, expected) in [
            ("fedora", "[release]\nname = Fedora\nversion = 39\n", "it holds Fedora 39, which lab does not install"),
            ("centos6", "[general]\nfamily = CentOS\nversion = 6.10\n", "it holds CentOS 6.10, a release"),
            ("rocky10", "[release]\nname = Rocky Linux\nversion = 10.0\n", "it holds Rocky Linux 10.0, a release"),
            ("empty", "[header]\ntype = productmd.treeinfo\n", "names no distribution"),
            ("garbled", "[general]\nfamily = CentOS\nversion = seven\n", "the version `seven`"),
        ] {
            let iso = build(dir.path(), name, "X", &[(".treeinfo", treeinfo)]);
            let message = inspect(&iso).expect_err(name).to_string();
            assert!(message.contains(expected), "{name}: {message}");
            assert!(message.contains(SUPPORTED), "{name}: {message}");
        }
    }

    #[test]
    fn a_file_that_is_not_an_iso_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = dir.path().join("key.pub");
        std::fs::write(&small, "ssh-ed25519 AAAA").expect("write");
        let big = dir.path().join("disk.img");
        std::fs::write(&big, vec![0u8; 40000]).expect("write");
        for path in [small, big] {
            let message = inspect(&path).expect_err("not an ISO").to_string();
            assert!(message.starts_with(&format!("ISO {}: not an ISO 9660 image", path.display())), "{message}");
        }
    }

    #[test]
    fn a_missing_or_unreadable_path_is_refused_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("centos7.iso");
        let message = inspect(&missing).expect_err("missing").to_string();
        assert!(message.starts_with(&format!("ISO {}: cannot read: ", missing.display())), "{message}");
        assert!(message.contains("give the path of a RHEL-like installation ISO (RHEL-like 7, 8 or 9: CentOS 7"));
        let message = inspect(dir.path()).expect_err("directory").to_string();
        assert!(message.contains("cannot read: it is a directory"), "{message}");
    }

    #[test]
    fn treeinfo_prefers_the_release_section() {
        let info = TreeInfo::parse(ROCKY9_TREEINFO);
        assert_eq!(info.release(), Some(Release { name: "Rocky Linux".into(), version: "9.3".into() }));
        let stream = Release { name: "CentOS Stream".into(), version: "9".into() };
        assert_eq!(stream.family(), Ok(Family::RhelLike { vendor: Vendor::CentOsStream, major: 9 }));
        let centos8 = Release { name: "CentOS Linux".into(), version: "8".into() };
        assert!(centos8.family().is_err(), "CentOS Linux 8 is gone; Stream, Rocky or Alma instead");
    }
}
