//! The Landlock rules of one run: read the program, its loader, the system libraries and the
//! input; write (and re-read) only the output files the host created, never create one; no
//! TCP; no signals or abstract sockets outside the jail. Built in the parent before `fork`;
//! the child only calls `landlock_restrict_self` on the ruleset's fd (see `confine`).

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The Landlock ABI whose rights attachd asks for (Linux 6.12: filesystem rights including
/// truncate and device ioctls, TCP bind/connect, and signal and abstract-socket scoping). On an
/// older kernel the crate keeps the subset the kernel knows (best effort); the ABI actually
/// available is reported by [`super::Support`].
const LANDLOCK_TARGET: landlock::ABI = landlock::ABI::V6;

/// Directories of shared libraries the sandboxed programs may read (not write, not execute:
/// `mmap` of a library needs read access only). Only those that exist are used.
const LIBRARY_DIRS: &[&str] = &["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"];
/// Single files the dynamic loader reads.
const LOADER_FILES: &[&str] = &["/etc/ld.so.cache"];

/// The system files every run may read, those of [`LIBRARY_DIRS`] and [`LOADER_FILES`] that
/// exist on this machine: found once, when the jail is built.
pub(super) struct SystemFiles {
    library_dirs: Vec<PathBuf>,
    loader_files: Vec<PathBuf>,
}

impl SystemFiles {
    pub(super) fn find() -> SystemFiles {
        let existing = |list: &[&str]| -> Vec<PathBuf> {
            list.iter()
                .map(PathBuf::from)
                .filter(|p| p.exists())
                .collect()
        };
        SystemFiles {
            library_dirs: existing(LIBRARY_DIRS),
            loader_files: existing(LOADER_FILES),
        }
    }

    /// The Landlock ruleset for one run of `program` (see [`super::Spec`] for the files), as
    /// the fd `landlock_restrict_self` takes.
    pub(super) fn ruleset(
        &self,
        program: &Path,
        read_files: &[&Path],
        write_files: &[&Path],
    ) -> Result<OwnedFd, String> {
        use landlock::{
            Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
            RulesetCreatedAttr, Scope,
        };
        let abi = LANDLOCK_TARGET;
        let read_dir = AccessFs::from_read(abi);
        let read_file: BitFlags<AccessFs> = AccessFs::ReadFile.into();
        let exec = AccessFs::ReadFile | AccessFs::Execute;
        // Rights on one existing file only: no right on any directory to make, remove or
        // rename an entry, so the number of files it writes is fixed by the host.
        let write = (AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate)
            & AccessFs::from_all(abi);

        let interpreter = elf_interpreter(program);
        let mut rules: Vec<(&Path, BitFlags<AccessFs>)> = Vec::new();
        rules.extend(self.library_dirs.iter().map(|d| (d.as_path(), read_dir)));
        rules.extend(self.loader_files.iter().map(|f| (f.as_path(), read_file)));
        // The program, and the dynamic loader the kernel opens to run it: the only files
        // the child may execute, so an `execve` it is allowed can only start ffmpeg again.
        rules.push((program, exec));
        if let Some(interp) = &interpreter {
            rules.push((interp.as_path(), exec));
        }
        rules.extend(read_files.iter().map(|f| (*f, read_file)));
        rules.extend(write_files.iter().map(|f| (*f, write)));

        let e = |what: &str, err: &dyn std::fmt::Display| format!("landlock: {what}: {err}");
        let mut rs = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .map_err(|x| e("filesystem rights", &x))?
            .handle_access(AccessNet::from_all(abi))
            .map_err(|x| e("network rights", &x))?
            .scope(Scope::from_all(abi))
            .map_err(|x| e("scopes", &x))?
            .create()
            .map_err(|x| e("create", &x))?;
        for (path, access) in rules {
            let name = path.display().to_string();
            let fd = PathFd::new(path).map_err(|x| e(&name, &x))?;
            rs = rs
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|x| e(&name, &x))?;
        }
        Option::<OwnedFd>::from(rs)
            .ok_or_else(|| "landlock: the kernel does not support Landlock".to_string())
    }
}

/// The dynamic loader named in a 64-bit little-endian ELF's PT_INTERP, if it has one.
/// A static binary (or anything else) has none and needs no second executable rule.
fn elf_interpreter(program: &Path) -> Option<PathBuf> {
    /// Program headers are near the start; 64 KiB bounds the read for any real binary.
    const HEAD: u64 = 64 * 1024;
    const PT_INTERP: u32 = 3;
    let mut head = Vec::new();
    File::open(program)
        .ok()?
        .take(HEAD)
        .read_to_end(&mut head)
        .ok()?;
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // ELF magic, 64-bit class, little-endian data.
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? != PT_INTERP {
            continue;
        }
        let offset = usize::try_from(u64_at(ph + 8)?).ok()?;
        let size = usize::try_from(u64_at(ph + 32)?).ok()?;
        let raw = head.get(offset..offset.checked_add(size)?)?;
        let path = raw.split(|&b| b == 0).next()?;
        return Some(PathBuf::from(std::str::from_utf8(path).ok()?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_interpreter_is_read_from_a_real_binary_and_absent_from_text() {
        // Test binaries are dynamically linked against glibc: they name a loader.
        let exe = std::env::current_exe().unwrap();
        let interp = elf_interpreter(&exe).expect("a dynamic executable names its loader");
        assert!(interp.is_absolute() && interp.exists(), "{interp:?}");
        let dir = std::env::temp_dir().join(format!("attachd-elf-{}", std::process::id()));
        std::fs::write(&dir, b"#!/bin/sh\n").unwrap();
        assert_eq!(elf_interpreter(&dir), None);
        let _ = std::fs::remove_file(&dir);
    }
}
