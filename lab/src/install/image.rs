//! The embedded default guest image: Debian with the HA stack, built with
//! mmdebstrap and cached by the hash of its recipe.
//!
//! The image is a plain root directory that every node uses read-only as
//! the lower layer of its overlay. It is built from the host's own Debian
//! mirror, the only mirror a host is known to reach.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cluster::profile::StackProfile;
use crate::cluster::services::container::{self, ContainerImage};
use crate::config::BackendKind;
use crate::host::{self, HostError};
use crate::progress::Progress;

/// The recipe of the embedded default image.
pub const DEFAULT_RECIPE: &str = include_str!("../../../images/debian12.toml");

/// The recipe's kernel, which only VMs boot.
const KERNEL_PACKAGE: &str = "linux-image-amd64";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image recipe {name}: {message}")]
    Recipe { name: String, message: String },
    #[error(
        "no Debian mirror for suite `{suite}` in the host's apt sources (/etc/apt/sources.list*); set image.mirror in the config"
    )]
    NoMirror { suite: String },
    #[error("cannot prepare image directory {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Mount(#[from] crate::mounts::MountError),
    #[error("guest image {key} is being built by another lab command ({holder}); run this one again when it is done")]
    Busy { key: String, holder: String },
}

/// What goes into an image.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub suite: String,
    pub variant: String,
    pub packages: Vec<String>,
    /// Docker images built with it, shipped inside it as tarballs (see
    /// [`crate::cluster::services::container`]).
    #[serde(skip)]
    pub containers: Vec<&'static ContainerImage>,
    #[serde(skip)]
    text: String,
}

impl Recipe {
    pub fn parse(name: &str, text: &str) -> Result<Self, ImageError> {
        let mut recipe: Recipe =
            toml::from_str(text).map_err(|e| ImageError::Recipe { name: name.to_owned(), message: e.to_string() })?;
        if recipe.packages.is_empty() {
            return Err(ImageError::Recipe { name: name.to_owned(), message: "packages is empty".into() });
        }
        recipe.text = text.to_owned();
        Ok(recipe)
    }

    pub fn embedded() -> Result<Self, ImageError> {
        Self::parse("images/debian12.toml", DEFAULT_RECIPE)
    }

    /// The embedded recipe with what `stack` needs beyond it: its packages
    /// and its containers' images. A stack that needs nothing more shares
    /// the embedded image; one that does gets an image (and key) of its own.
    pub fn for_stack(stack: &StackProfile) -> Result<Self, ImageError> {
        let mut recipe = Self::embedded()?;
        let images = stack.container_images();
        if stack.packages.is_empty() && images.is_empty() {
            return Ok(recipe);
        }
        recipe.packages.extend(stack.packages.iter().map(|p| (*p).to_owned()));
        recipe.containers = images;
        recipe.text.push_str(&format!("\n# stack {}\nstack_packages = {:?}\n", stack.name, stack.packages));
        for container in &recipe.containers {
            // The very options it is built with: any change to them makes a new image.
            recipe.text.push_str(&format!("container_{} = {:?}\n", container.name, container_options(container)));
        }
        Ok(recipe)
    }

    /// [`Recipe::for_stack`] for nodes of `backend`. Container nodes run
    /// on the host's kernel: their image leaves out the kernel package,
    /// whose download and initramfs were over a third of the build (95.5 s
    /// with it, 59.6 s without, measured here on 2026-12-02), and gets a
    /// key of its own. VMs boot the image's kernel.
    pub fn for_lab(stack: &StackProfile, backend: BackendKind) -> Result<Self, ImageError> {
        let mut recipe = Self::for_stack(stack)?;
        if backend == BackendKind::Container {
            recipe.packages.retain(|p| p != KERNEL_PACKAGE);
            recipe
                .text
                .push_str(&format!("\n# container nodes run on the host's kernel\nwithout = [{KERNEL_PACKAGE:?}]\n"));
        }
        Ok(recipe)
    }

    /// Cache key: changes whenever the recipe text changes.
    pub fn key(&self) -> String {
        let digest = Sha256::digest(self.text.as_bytes());
        hex::encode(&digest[..8])
    }
}

/// A built image.
#[derive(Clone, Debug)]
pub struct Image {
    pub key: String,
    pub rootfs: PathBuf,
}

/// Holds image `key` while it is built (or its VM disk made): two labs'
/// make-alls must not build into the same directory, and `lab destroy`
/// must not clean up a build in progress.
pub fn lock_image(images: &Path, key: &str) -> Result<crate::lock::FileLock, ImageError> {
    let path = images.join(format!("{key}.lock"));
    match crate::lock::try_lock(&path, &format!("builds guest image {key}")) {
        Ok(Ok(held)) => Ok(held),
        Ok(Err(holder)) => Err(ImageError::Busy { key: key.to_owned(), holder }),
        Err(source) => Err(ImageError::Io { path, source }),
    }
}

/// Removes what interrupted image builds left (`<key>.partial`, and
/// `vm-*.partial` VM disks inside an image), mounts first, skipping any
/// image a running command holds. Returns how many were removed.
pub async fn clean_partials(images: &Path) -> Result<usize, ImageError> {
    let Ok(entries) = std::fs::read_dir(images) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = name.strip_suffix(".partial").unwrap_or(&name).to_owned();
        let Ok(Ok(_held)) = crate::lock::try_lock(&images.join(format!("{key}.lock")), "cleans up") else {
            continue;
        };
        let mut partials = Vec::new();
        if name.ends_with(".partial") {
            partials.push(entry.path());
        } else if let Ok(inside) = std::fs::read_dir(entry.path()) {
            partials
                .extend(inside.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "partial")));
        }
        for partial in partials {
            tracing::info!(path = %partial.display(), "removing an interrupted image build");
            crate::mounts::remove_tree(&host::Host, &partial).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Returns the cached image for `recipe`, building it first if needed.
pub async fn ensure(images: &Path, recipe: &Recipe, mirror: &str, progress: &Progress) -> Result<Image, ImageError> {
    let key = recipe.key();
    let dir = images.join(&key);
    let image = Image { key: key.clone(), rootfs: dir.join("rootfs") };
    if dir.join("complete").exists() {
        tracing::info!(image = %key, "guest image cached");
        return Ok(image);
    }
    host::require(&["mmdebstrap"])?;
    let mirror = if mirror.is_empty() { host_mirror(&recipe.suite)? } else { mirror.to_owned() };
    let _building = lock_image(images, &key)?;
    let partial = images.join(format!("{key}.partial"));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ImageError::Io { path, source }
    };
    // What an interrupted build left, mounts included.
    crate::mounts::remove_tree(&host::Host, &partial).await?;
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    let step = progress.step(format!("build guest image {key} ({} from {mirror})", recipe.suite));
    let rootfs = partial.join("rootfs");
    let packages = format!("--include={}", recipe.packages.join(","));
    let options = [format!("--variant={}", recipe.variant), packages];
    mmdebstrap(&options, &recipe.suite, &rootfs, &mirror, &step).await?;
    if !recipe.containers.is_empty() {
        let tarballs = rootfs.join(container::TARBALLS.trim_start_matches('/'));
        std::fs::create_dir_all(&tarballs).map_err(io(&tarballs))?;
        for image in &recipe.containers {
            step.detail(format!("container image {}", image.name));
            let tarball = tarballs.join(format!("{}.tar", image.name));
            mmdebstrap(&container_options(image), &recipe.suite, &tarball, &mirror, &step).await?;
        }
    }
    std::fs::write(partial.join("recipe.toml"), &recipe.text).map_err(io(&partial))?;
    std::fs::write(partial.join("complete"), "").map_err(io(&partial))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(&partial, &dir).map_err(io(&dir))?;
    step.done();
    Ok(image)
}

/// mmdebstrap's options for a container image: its packages, without what
/// it leaves out.
fn container_options(image: &ContainerImage) -> Vec<String> {
    let mut options = vec!["--variant=apt".to_owned(), format!("--include={}", image.packages.join(","))];
    for pattern in container::EXCLUDED_FROM_EVERY_IMAGE.iter().chain(image.excluded) {
        options.push(format!("--dpkgopt=path-exclude={pattern}"));
    }
    if !image.removed.is_empty() {
        let paths: Vec<String> = image.removed.iter().map(|p| format!("\"$1\"{p}")).collect();
        options.push(format!("--customize-hook=rm -rf {}", paths.join(" ")));
    }
    options
}

/// Runs mmdebstrap with `options` for `suite` into `target` (a directory,
/// or a tarball when it ends in `.tar`).
async fn mmdebstrap(
    options: &[impl AsRef<std::ffi::OsStr>],
    suite: &str,
    target: &Path,
    mirror: &str,
    step: &crate::progress::Step,
) -> Result<(), ImageError> {
    let mut command = tokio::process::Command::new("mmdebstrap");
    command
        .args(options)
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg(suite)
        .arg(target)
        .arg(mirror)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let line = host::describe(&command);
    tracing::info!(command = %line, "host");
    let mut child = command.spawn().map_err(|source| HostError::Spawn { command: line.clone(), source })?;
    // Dropped unfinished (interrupted), it kills apt and dpkg too.
    let group = crate::process::GroupKiller::new(child.id());
    let mut last_lines = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(text)) = lines.next_line().await {
            tracing::debug!(target: "mmdebstrap", "{text}");
            step.detail(text.clone());
            last_lines.push(text);
            if last_lines.len() > 20 {
                last_lines.remove(0);
            }
        }
    }
    let status = child.wait().await.map_err(|source| HostError::Spawn { command: line.clone(), source })?;
    group.disarm();
    if status.success() {
        Ok(())
    } else {
        Err(HostError::Failed { command: line, status, stderr: host::tail(&last_lines.join("\n")) }.into())
    }
}

/// The first mirror in the host's apt sources that serves `suite`.
pub fn host_mirror(suite: &str) -> Result<String, ImageError> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    files
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok().map(|text| (path, text)))
        .find_map(|(path, text)| {
            if path.extension().is_some_and(|e| e == "sources") {
                mirror_in_deb822(&text, suite)
            } else {
                mirror_in_one_line(&text, suite)
            }
        })
        .ok_or_else(|| ImageError::NoMirror { suite: suite.to_owned() })
}

fn mirror_in_one_line(text: &str, suite: &str) -> Option<String> {
    text.lines().find_map(|line| {
        // Drop the `[option=value ...]` block, which may contain spaces.
        let line = match (line.find('['), line.find(']')) {
            (Some(open), Some(close)) if open < close => {
                format!("{} {}", &line[..open], &line[close + 1..])
            }
            _ => line.to_owned(),
        };
        let mut words = line.split_whitespace();
        if words.next()? != "deb" {
            return None;
        }
        let uri = words.next()?;
        (words.next()? == suite).then(|| uri.to_owned())
    })
}

fn mirror_in_deb822(text: &str, suite: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
            })
        };
        let types = field("Types")?;
        let suites = field("Suites")?;
        if !types.split_whitespace().any(|t| t == "deb") || !suites.split_whitespace().any(|s| s == suite) {
            return None;
        }
        field("URIs")?.split_whitespace().next().map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_recipe_parses_and_has_the_stack() {
        let recipe = Recipe::embedded().expect("recipe");
        for needed in ["pacemaker", "corosync-qnetd", "resource-agents-paf", "postgresql", "pcs", "sbd"] {
            assert!(recipe.packages.iter().any(|p| p == needed), "{needed} missing");
        }
        assert_eq!(recipe.key().len(), 16);
    }

    #[test]
    fn a_stack_with_containers_gets_an_image_of_its_own() {
        use crate::cluster::profile::ProfileName;
        let plain = Recipe::for_stack(ProfileName::Tuchanka.profile()).expect("tuchanka");
        assert_eq!(plain.key(), Recipe::embedded().expect("embedded").key(), "Tuchanka's is the embedded image");
        assert!(plain.containers.is_empty());
        let skyha = Recipe::for_stack(ProfileName::Skyha.profile()).expect("skyha");
        assert_ne!(skyha.key(), plain.key());
        assert!(skyha.packages.iter().any(|p| p == "drbd-utils") && skyha.packages.iter().any(|p| p == "docker.io"));
        let names: Vec<&str> = skyha.containers.iter().map(|c| c.name).collect();
        assert_eq!(names, ["postgres", "redis", "beanstalkd"]);
    }

    #[test]
    fn container_nodes_get_an_image_without_a_kernel() {
        let stack = crate::cluster::profile::ProfileName::Tuchanka.profile();
        let vms = Recipe::for_lab(stack, BackendKind::Qemu).expect("vms");
        assert_eq!(vms.key(), Recipe::embedded().expect("embedded").key(), "VMs boot the embedded image");
        assert!(vms.packages.iter().any(|p| p == KERNEL_PACKAGE));
        let containers = Recipe::for_lab(stack, BackendKind::Container).expect("containers");
        assert!(!containers.packages.iter().any(|p| p == KERNEL_PACKAGE), "{:?}", containers.packages);
        assert!(containers.packages.iter().any(|p| p == "pacemaker"));
        assert_ne!(containers.key(), vms.key());
    }

    #[test]
    fn container_images_leave_out_what_their_service_does_not_run() {
        let postgres = &container::IMAGES[0];
        let options = container_options(postgres);
        assert_eq!(options[..2], ["--variant=apt", "--include=postgresql"]);
        assert!(options.contains(&"--dpkgopt=path-exclude=/usr/share/locale/*".to_owned()), "{options:?}");
        assert!(options.contains(&"--dpkgopt=path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM-*".to_owned()));
        assert_eq!(
            options.last().map(String::as_str),
            Some(r#"--customize-hook=rm -rf "$1"/var/lib/postgresql/15/main "$1"/etc/postgresql/15/main"#)
        );
        let redis = container_options(&container::IMAGES[1]);
        assert!(!redis.iter().any(|o| o.starts_with("--customize-hook")), "nothing to remove: {redis:?}");
    }

    #[test]
    fn key_changes_with_the_recipe() {
        let a = Recipe::parse("a", "suite = \"bookworm\"\nvariant = \"apt\"\npackages = [\"a\"]\n").expect("a");
        let b = Recipe::parse("b", "suite = \"bookworm\"\nvariant = \"apt\"\npackages = [\"a\", \"b\"]\n").expect("b");
        assert_ne!(a.key(), b.key());
    }

    #[test]
    fn recipe_with_unknown_key_is_rejected() {
        let err = Recipe::parse("x", "suite = \"bookworm\"\nvariant = \"apt\"\npackages = [\"a\"]\nextra = 1\n");
        assert!(err.expect_err("unknown").to_string().contains("extra"));
    }

    #[test]
    fn mirror_from_deb822_sources_skips_other_suites() {
        let text = "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n";
        assert_eq!(mirror_in_deb822(text, "bookworm").as_deref(), Some("http://mirror.example/debian"));
        assert_eq!(mirror_in_deb822(text, "trixie"), None);
    }

    #[test]
    fn mirror_from_one_line_sources() {
        let text = "# deb http://old.example/debian bookworm main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n";
        assert_eq!(mirror_in_one_line(text, "bookworm").as_deref(), Some("http://mirror.example/debian"));
    }

    /// `lab destroy` removes interrupted builds (mounts first) and leaves a
    /// build in progress, a finished image and the locks alone. Needs root.
    #[tokio::test]
    async fn interrupted_builds_are_cleaned_and_running_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let images = dir.path();
        let interrupted = images.join("aaa.partial").join("rootfs");
        std::fs::create_dir_all(interrupted.join("proc")).expect("mkdir");
        host::Host
            .run("mount", ["-t", "tmpfs", "tmpfs", interrupted.join("proc").to_str().expect("utf8")])
            .await
            .expect("mount");
        std::fs::create_dir_all(images.join("bbb.partial")).expect("mkdir");
        let _building = lock_image(images, "bbb").expect("a build of bbb in progress");
        std::fs::create_dir_all(images.join("ccc").join("vm-1.partial")).expect("mkdir");
        std::fs::create_dir_all(images.join("ccc").join("rootfs")).expect("mkdir");

        assert_eq!(clean_partials(images).await.expect("cleaned"), 2);
        assert!(!images.join("aaa.partial").exists() && crate::mounts::mounts_under(images).is_empty());
        assert!(images.join("bbb.partial").exists(), "a build in progress is kept");
        assert!(!images.join("ccc").join("vm-1.partial").exists() && images.join("ccc").join("rootfs").exists());
        assert!(matches!(lock_image(images, "bbb"), Err(ImageError::Busy { .. })), "a second builder is refused");
    }
}
