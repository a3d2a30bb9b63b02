//! The guest's initramfs: a newc cpio archive, gzip-compressed.
//!
//! Layout: `/init` (the static `zcrx-guest-init`), `/dev/console`,
//! `/zcrx-vm/bin/*` (the programs), `/zcrx-vm/manifest`, and empty mount
//! points.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;

/// A writer of "newc" (`070701`) cpio archives, as the kernel's initramfs
/// unpacker reads them. Every entry belongs to root, with mtime 0, so the
/// archive depends only on its contents.
pub struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
    offset: u64,
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive.
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            next_ino: 1,
            offset: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn pad4(&mut self) -> io::Result<()> {
        let pad = (4 - (self.offset % 4) as usize) % 4;
        self.put(&[0u8; 3][..pad])
    }

    fn header(&mut self, name: &str, mode: u32, size: u64, rdev: (u32, u32)) -> io::Result<()> {
        let name = name.trim_start_matches('/');
        let size = u32::try_from(size).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: larger than 4 GiB, which newc cannot hold"),
            )
        })?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            size,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut h = String::with_capacity(110);
        h.push_str("070701");
        for f in fields {
            h.push_str(&format!("{f:08x}"));
        }
        self.put(h.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad4()
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        self.header(name, S_IFDIR | perm, 0, (0, 0))
    }

    /// A character device node.
    pub fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        self.header(name, S_IFCHR | perm, 0, (major, minor))
    }

    /// A regular file with the given contents.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.header(name, S_IFREG | perm, data.len() as u64, (0, 0))?;
        self.put(data)?;
        self.pad4()
    }

    /// A regular file copied from `src`, streamed.
    pub fn file_from(&mut self, name: &str, perm: u32, src: &Path) -> io::Result<()> {
        let mut f = File::open(src)?;
        let len = f.metadata()?.len();
        self.header(name, S_IFREG | perm, len, (0, 0))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} shrank while being archived", src.display()),
                ));
            }
            let n = n.min(left as usize);
            self.put(&buf[..n])?;
            left -= n as u64;
        }
        self.pad4()
    }

    /// Writes the trailer and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, 0, (0, 0))?;
        // The kernel reads archives in 512-byte blocks; pad like cpio(1).
        let pad = (512 - (self.offset % 512) as usize) % 512;
        self.put(&vec![0u8; pad])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes the program part of an initramfs (gzip-compressed): the mount
/// points, `/dev/console`, `/init` and `/zcrx-vm/bin/*`. The programs are
/// (file name under `/zcrx-vm/bin/`, host path).
pub fn write_base(out: &Path, init: &Path, programs: &[(String, &Path)]) -> io::Result<()> {
    let file = BufWriter::new(File::create(out)?);
    // Level 1: the archive is mostly code; faster compression wins more in
    // the host's build than it costs in the guest's unpacking.
    let gz = GzEncoder::new(file, Compression::fast());
    let mut cpio = CpioWriter::new(gz);
    for d in [
        "dev",
        "proc",
        "sys",
        "tmp",
        "run",
        "bin",
        "usr",
        "usr/bin",
        "zcrx-vm",
        "zcrx-vm/bin",
    ] {
        cpio.dir(d, 0o755)?;
    }
    cpio.char_dev("dev/console", 0o600, 5, 1)?;
    cpio.char_dev("dev/null", 0o666, 1, 3)?;
    cpio.file_from("init", 0o755, init)?;
    for (name, src) in programs {
        cpio.file_from(&format!("zcrx-vm/bin/{name}"), 0o755, src)?;
    }
    let mut file = cpio.finish()?.finish()?;
    file.flush()
}

/// Writes the initramfs of one boot to `out`: the archive `base` (from
/// [`write_base`]) followed by a second archive with `/zcrx-vm/manifest`.
/// The kernel unpacks concatenated archives in order, so the programs are
/// compressed once and shared by every boot. Returns the size in bytes.
pub fn write_with_manifest(out: &Path, base: &Path, manifest: &str) -> io::Result<u64> {
    std::fs::copy(base, out)?;
    let file = File::options().append(true).open(out)?;
    let mut cpio = CpioWriter::new(GzEncoder::new(BufWriter::new(file), Compression::fast()));
    cpio.file("zcrx-vm/manifest", 0o644, manifest.as_bytes())?;
    let mut file = cpio.finish()?.finish()?;
    file.flush()?;
    let file = file.into_inner().map_err(|e| e.into_error())?;
    Ok(file.metadata()?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, mode, contents and device numbers of an archive entry.
    type Entry = (String, u32, Vec<u8>, (u32, u32));

    /// A minimal newc reader, to check the writer: every archive of a
    /// concatenation, in order.
    fn parse(mut data: &[u8]) -> Vec<Entry> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let (entries, rest) = parse_one(data);
            out.extend(entries);
            data = rest;
        }
        out
    }

    fn parse_one(mut data: &[u8]) -> (Vec<Entry>, &[u8]) {
        let mut out = Vec::new();
        let mut offset = 0usize;
        loop {
            assert_eq!(&data[..6], b"070701", "magic at {offset}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&data[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let rdev = (field(9), field(10));
            let name = std::str::from_utf8(&data[110..110 + namesize - 1])
                .unwrap()
                .to_owned();
            assert_eq!(data[110 + namesize - 1], 0);
            let head = (110 + namesize).div_ceil(4) * 4;
            let body = data[head..head + size].to_vec();
            let total = head + size.div_ceil(4) * 4;
            data = &data[total..];
            offset += total;
            assert_eq!(offset % 4, 0);
            if name == "TRAILER!!!" {
                let pad = (512 - offset % 512) % 512;
                assert!(data[..pad].iter().all(|&b| b == 0));
                return (out, &data[pad..]);
            }
            out.push((name, mode, body, rdev));
        }
    }

    #[test]
    fn newc_layout() {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/dev", 0o755).unwrap();
        w.char_dev("dev/console", 0o600, 5, 1).unwrap();
        w.file("a", 0o644, b"hello").unwrap();
        w.file("bb", 0o755, b"").unwrap();
        w.file("ccc", 0o600, b"1234").unwrap();
        let bytes = w.finish().unwrap();
        // The first header, byte for byte.
        assert_eq!(
            &bytes[..110],
            b"07070100000001000041ed0000000000000000000000020000000000000000\
              0000000000000000000000000000000000000004\
              00000000"
        );
        let entries = parse(&bytes);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["dev", "dev/console", "a", "bb", "ccc"]);
        assert_eq!(entries[1].1, S_IFCHR | 0o600);
        assert_eq!(entries[1].3, (5, 1));
        assert_eq!(entries[2].2, b"hello");
        assert_eq!(entries[3].2, b"");
        assert_eq!(entries[4].1, S_IFREG | 0o600);
    }

    #[test]
    fn gzip_initramfs_round_trip() {
        let dir = std::env::temp_dir().join(format!("zcrx-initramfs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let init = dir.join("init-src");
        std::fs::write(&init, vec![7u8; 3_000_001]).unwrap();
        let prog = dir.join("prog");
        std::fs::write(&prog, b"#!prog").unwrap();
        let base = dir.join("base.gz");
        write_base(&base, &init, &[("0-prog".to_owned(), prog.as_path())]).unwrap();
        let out = dir.join("initrd.gz");
        let size = write_with_manifest(&out, &base, "zcrx-vm-manifest 1\n").unwrap();
        assert!(size > 0 && size < 100_000, "{size}");
        // Two gzip members, two archives: the kernel unpacks both.
        let mut raw = Vec::new();
        flate2::read::MultiGzDecoder::new(File::open(&out).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        let entries = parse(&raw);
        let find = |n: &str| entries.iter().find(|e| e.0 == n).unwrap();
        assert_eq!(find("init").2.len(), 3_000_001);
        assert_eq!(find("init").1, S_IFREG | 0o755);
        assert_eq!(find("zcrx-vm/bin/0-prog").2, b"#!prog");
        assert_eq!(find("zcrx-vm/manifest").2, b"zcrx-vm-manifest 1\n");
        assert_eq!(find("dev/console").3, (5, 1));
        assert_eq!(entries.last().unwrap().0, "zcrx-vm/manifest");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
