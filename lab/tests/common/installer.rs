//! Installation media and the FAKE VBoxManage, for the tests of installing
//! hosts from an ISO.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `.treeinfo` of CentOS 7's ISOs (the pre-productmd `[general]` section only).
pub const CENTOS7_TREEINFO: &str = "[general]\nname = CentOS-7\nfamily = CentOS\nversion = 7\narch = x86_64\n\n\
    [images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n";

/// `.treeinfo` of Rocky Linux 9.3's DVD (productmd's `[release]` section).
pub const ROCKY9_TREEINFO: &str = "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n\
    [release]\nname = Rocky Linux\nshort = Rocky\nversion = 9.3\n\n[tree]\narch = x86_64\n\n\
    [images-x86_64]\ninitrd = images/pxeboot/initrd.img\nkernel = images/pxeboot/vmlinuz\n";

/// An ISO 9660 image at `iso` labelled `label` holding `files`, made with
/// xorriso as installation media are.
pub fn iso<C: AsRef<[u8]>>(iso: &Path, label: &str, files: &[(&str, C)]) -> PathBuf {
    let tree = iso.with_extension("tree");
    for (path, contents) in files {
        let path = tree.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }
    let args = ["-as", "mkisofs", "-V", label, "-R", "-J", "-o"].map(std::ffi::OsStr::new);
    lab::install::iso::xorriso(args.into_iter().chain([iso.as_os_str(), tree.as_os_str()]))
        .expect("xorriso (apt-get install xorriso)");
    iso.to_owned()
}

/// A RHEL-like installer ISO: `treeinfo` and the installer kernel and
/// initrd it names.
pub fn installer_iso(path: &Path, label: &str, treeinfo: &str) -> PathBuf {
    let files =
        [(".treeinfo", treeinfo), ("images/pxeboot/vmlinuz", "kernel"), ("images/pxeboot/initrd.img", "initrd")];
    iso(path, label, &files)
}

/// The FAKE VBoxManage (`tests/fake/VBoxManage`) as `root/bin/VBoxManage`,
/// recording its calls in `root/calls.log` and keeping its VMs in
/// `root/vbox`. Returns the wrapper's path.
pub fn fake_vboxmanage(root: &Path) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake/VBoxManage");
    let wrapper = bin.join("VBoxManage");
    let script = format!(
        "#!/bin/sh\nFAKE_VBOX_LOG='{}' FAKE_VBOX_STATE='{}' exec python3 -S '{}' \"$@\"\n",
        root.join("calls.log").display(),
        root.join("vbox").display(),
        fake.display()
    );
    std::fs::write(&wrapper, script).expect("write wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    wrapper
}
