"""The lab's guest image, built in seconds from Debian packages.

The guest is Debian's kernel (from the current ``linux-image-amd64`` dependency; the ELF inside its bzImage, which
QEMU enters at its PVH entry point: ``bootable_kernel``) with an initramfs holding
busybox (``busybox-static``), dropbear (``dropbear-bin`` and the libraries it links) and a few scripts from
``files/guest-*``. It boots in seconds under software emulation and needs no root disk. Its console shows
``GUEST: ...`` lines for each step: init start, DHCP, the SSH key fetched, ``SSH-READY``.

At boot the guest loads the virtio modules by hand (``virtio_net`` with ``csum=0 gso=0`` unless
``oslab.virtio_csum=1``: TCP through Open vSwitch's userspace datapath needs it), takes address, MTU and
routes from DHCP, the SSH key and hostname from a config drive (label ``config-2``) or else from the metadata
service, then starts dropbear (root login with the key; host keys made at boot). NICs plugged in later get DHCP
on their own unless ``oslab.hotplug_dhcp=0``. ``files/guest-rcS`` documents every parameter.

For Glance the build gives a kernel (``aki``), a ramdisk (``ari``) and a tiny raw disk to carry ``kernel_id``,
``ramdisk_id`` and ``os_command_line``; uploading is left to the caller.

``build(workdir)`` downloads the packages into ``workdir/debs`` with ``apt-get download``, keeps what it took
from the kernel package in ``workdir/kernel-*`` and records its inputs in ``workdir/manifest.json``: building
again with the same inputs returns at once. ``GuestImageStep`` is the same as a lab step.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import posixpath
import re
import shutil
import stat
import struct
import subprocess
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from .steps import LabError, Step

FILES = Path(__file__).parent / "files"

KERNEL_PACKAGE = "linux-image-amd64"
# busybox is static; dropbear links these (checked at build time against the binaries' DT_NEEDED entries).
USERLAND_PACKAGES = ("busybox-static", "dropbear-bin", "libc6", "libcrypt1", "libtomcrypt1", "libtommath1",
                     "libgmp10", "zlib1g")
# Kernel modules the guest loads, by group, in this order; each group's dependencies are added by the build.
MODULE_GROUPS: Dict[str, Tuple[str, ...]] = {
    "net": ("virtio_pci", "virtio_net"),
    # the config drive: iso9660 on an IDE (pc) or SATA (q35) CD-ROM, or vfat on a virtio disk
    "disk": ("virtio_blk", "ata_piix", "ahci", "sr_mod", "isofs", "vfat", "nls_cp437", "nls_ascii"),
    # the ACPI power button, so that a soft stop powers the guest off at once
    "acpi": ("button", "evdev"),
}
# Scripts of the guest: (file in files/, path in the guest, mode).
GUEST_FILES = (
    ("guest-inittab", "etc/inittab", 0o644),
    ("guest-rcS", "etc/init.d/rcS", 0o755),
    ("guest-net", "bin/oslab-net", 0o755),
    ("guest-udhcpc", "etc/udhcpc/default.script", 0o755),     # busybox udhcpc's default
    ("guest-json.awk", "etc/oslab/json.awk", 0o644),
    ("guest-power", "etc/acpi/PWRF/00000080", 0o755),
)
# Binaries taken from the packages: (path in the package, path in the guest).
GUEST_BINARIES = (
    ("bin/busybox", "bin/busybox"),
    ("usr/sbin/dropbear", "bin/dropbear"),
    ("usr/bin/dropbearkey", "bin/dropbearkey"),
)
LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib")
DISK_SIZE = 1024 * 1024

KERNEL_OUT, INITRD_OUT, DISK_OUT, MANIFEST = "kernel", "initrd.img", "disk.img", "manifest.json"
# Xen's ELF note XEN_ELFNOTE_PHYS32_ENTRY: a kernel carrying it has a PVH entry point, which QEMU's -kernel enters
# directly, with no firmware run and no decompression in the guest. Under software emulation Debian 12's kernel
# so reached init after 2.2 s of CPU instead of 5.1 s as a bzImage (plain QEMU on the lab's machine, twice each).
PVH_ENTRY_NOTE = 18
# PCI interrupts routed by the PIRQ table rather than ACPI's link devices (their AML, interpreted under emulation,
# took about 0.3 s each as the virtio devices were enabled: 1.4-1.7 s to load the network modules, 0.4-0.5 s so)
# and no self-tests of the kernel's crypto algorithms (0.25 s); measured in plain QEMU with nova's virtio devices
FAST_BOOT = ("acpi=noirq", "cryptomgr.notests")


def command_line(virtio_csum: bool = False, hotplug_dhcp: bool = True, extra: Sequence[str] = ()) -> str:
    """The kernel command line (Glance's ``os_command_line``) for the guest.

    ``virtio_csum=False`` loads virtio_net with ``csum=0 gso=0`` (TCP through OVS's userspace datapath);
    ``hotplug_dhcp=False`` leaves NICs plugged in after boot down, for a test to configure them by hand.
    ``FAST_BOOT`` spares the emulated CPU work a test guest does not need.
    """
    words = ["console=ttyS0", *FAST_BOOT, f"oslab.virtio_csum={int(virtio_csum)}",
             f"oslab.hotplug_dhcp={int(hotplug_dhcp)}"]
    return " ".join(words + list(extra))


DEFAULT_COMMAND_LINE = command_line()


@dataclass(frozen=True)
class GuestImage:
    """A built guest: what the lab uploads to Glance, and what it was built from."""

    kernel: Path            # the ELF kernel with its PVH entry (else the bzImage): Glance "aki"
    initrd: Path            # gzip'd cpio initramfs: "ari"
    disk: Path              # 1 MiB raw disk carrying kernel_id, ramdisk_id and os_command_line: "raw"/"bare"
    os_command_line: str
    kernel_version: str     # e.g. "6.1.0-56-amd64"
    digest: str             # hash of every input: a new digest means a new image
    packages: Dict[str, str] = field(default_factory=dict)   # package -> .deb file it came from

    @property
    def cmdline(self) -> str:
        return self.os_command_line


# ---------------------------------------------------------------------------------------------------- apt


@dataclass(frozen=True)
class Deb:
    """A package as apt would download it."""

    package: str
    filename: str
    size: int
    hash: str               # "sha256:<hex>" (or whichever hash apt gives)

    def matches(self, path: Path) -> bool:
        """``path`` is this package's file: same size and hash."""
        return path.is_file() and path.stat().st_size == self.size and \
            _file_hash(path, self.hash.split(":", 1)[0]) == self.hash


_URI_LINE = re.compile(r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+) (?P<algo>[A-Za-z0-9]+):(?P<hex>[0-9a-fA-F]+)$")
_NO_PACKAGE = re.compile(r"package '?([A-Za-z0-9][A-Za-z0-9.+-]*)'?")


class Apt:
    """The apt-get and apt-cache calls the build needs.

    apt keeps its binary package cache in ``cache_dir`` (this host's apt is set up to keep none, which makes
    every call rebuild it from the lists: about a second instead of a third of one).
    """

    def __init__(self, cache_dir: Optional[Path] = None):
        self.options: List[str] = []
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.options = ["-o", f"Dir::Cache::pkgcache={cache_dir / 'pkgcache.bin'}",
                            "-o", "Dir::Cache::srcpkgcache="]

    def _run(self, argv: List[str], what: str, cwd: Optional[Path] = None) -> str:
        try:
            proc = subprocess.run(argv[:1] + self.options + argv[1:], cwd=cwd, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise LabError(f"{what}: {argv[0]} is not installed") from exc
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines() if line.startswith("E:")] or \
                proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            missing = sorted({m.group(1) for line in errors for m in _NO_PACKAGE.finditer(line)})
            said = "; ".join(errors[:2]) + (f" (and {len(errors) - 2} more)" if len(errors) > 2 else "")
            if missing:
                said = f"package {', '.join(missing)}: {said} (are the apt lists there? apt-get update)"
            raise LabError(f"{what} failed: {said}")
        return proc.stdout

    def depends(self, package: str) -> List[str]:
        """The packages the candidate version of ``package`` depends on (first alternative of each)."""
        out = self._run(["apt-cache", "show", "--no-all-versions", package], f"apt-cache show {package}")
        for line in out.splitlines():
            if line.startswith("Depends:"):
                return [d.split("|")[0].split("(")[0].strip() for d in line[len("Depends:"):].split(",")]
        return []

    def locate(self, packages: Sequence[str]) -> Dict[str, Deb]:
        """What ``apt-get download`` would fetch for each package: file name, size and hash."""
        out = self._run(["apt-get", "--print-uris", "download", *packages],
                        f"looking up {' '.join(packages)}")
        debs = {}
        for line in out.splitlines():
            m = _URI_LINE.match(line.strip())
            if m:
                package = m.group("file").split("_", 1)[0]
                debs[package] = Deb(package, m.group("file"), int(m.group("size")),
                                    f"{m.group('algo').lower()}:{m.group('hex').lower()}")
        missing = [p for p in packages if p not in debs]
        if missing:
            raise LabError(f"apt-get knows no download for package {', '.join(missing)}")
        return debs

    def download(self, packages: Sequence[str], dest: Path) -> None:
        self._run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *packages], "apt-get download",
                  cwd=dest)


def resolve_packages(apt: Apt) -> Dict[str, Deb]:
    """The .deb files of the guest: the kernel ``linux-image-amd64`` points to now, and the userland."""
    kernels = [d for d in apt.depends(KERNEL_PACKAGE) if d.startswith("linux-image-")]
    if not kernels:
        raise LabError(f"package {KERNEL_PACKAGE} depends on no linux-image-* package")
    debs = apt.locate([kernels[0], *USERLAND_PACKAGES])
    return {"kernel": debs[kernels[0]], **{p: debs[p] for p in USERLAND_PACKAGES}}


def fetch(apt: Apt, debs: Iterable[Deb], dest: Path) -> Dict[str, Path]:
    """Each deb's path in ``dest``, downloading the ones not there (or not matching) with apt-get download."""
    dest.mkdir(parents=True, exist_ok=True)
    debs = list(debs)
    missing = [d for d in debs if not d.matches(dest / d.filename)]
    if missing:
        try:
            apt.download([d.package for d in missing], dest)
            error = "apt-get download gave no file of that size and hash"
        except LabError as exc:
            error = str(exc)
        failed = [d for d in missing if not d.matches(dest / d.filename)]
        for deb in failed:
            (dest / deb.filename).unlink(missing_ok=True)
        if failed:
            raise LabError(f"cannot download package {', '.join(d.package for d in failed)}: {error}")
    return {d.package: dest / d.filename for d in debs}


def _file_hash(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{algo}:{h.hexdigest()}"


# --------------------------------------------------------------------------------------------- .deb, ELF


def deb_members(deb: Path) -> Iterator[Tuple[str, tarfile.TarInfo, Callable[[], bytes]]]:
    """(path without "./", member, read) for each member of a .deb's data, streamed through dpkg-deb."""
    try:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise LabError("dpkg-deb is not installed") from exc
    failure = None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                yield name, member, (lambda m=member: tar.extractfile(m).read())
    except tarfile.TarError as exc:
        failure = str(exc)
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        returncode = proc.wait()
    if failure or returncode != 0:
        raise LabError(f"cannot read {deb.name}: {stderr or failure or f'dpkg-deb exit {returncode}'}")


@dataclass
class PackageTree:
    """Regular files and symlinks of some packages, in memory, by path without a leading slash."""

    files: Dict[str, Tuple[int, bytes]] = field(default_factory=dict)     # path -> (mode, content)
    links: Dict[str, str] = field(default_factory=dict)                   # path -> link target

    def add_deb(self, deb: Path) -> None:
        for name, member, read in deb_members(deb):
            if member.isfile():
                self.files[name] = (member.mode & 0o7777, read())
            elif member.issym():
                self.links[name] = member.linkname

    def chain(self, path: str) -> List[str]:
        """``path`` and each path its symlinks lead to, inside the tree; the last one is no symlink."""
        chain = [path]
        while path in self.links:
            if len(chain) > 40:
                raise LabError(f"symlink loop at {chain[0]}")
            target = self.links[path]
            path = posixpath.normpath(target.lstrip("/") if target.startswith("/")
                                      else posixpath.join(posixpath.dirname(path), target))
            chain.append(path)
        return chain

    def resolve(self, path: str) -> str:
        """``path`` with symlinks followed, inside the tree."""
        return self.chain(path)[-1]

    def exists(self, path: str) -> bool:
        return self.resolve(path) in self.files


def elf_sections(data: bytes) -> List[Tuple[str, int, bytes, int]]:
    """(name, type, content, link) of each section of a little-endian 64-bit ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian 64-bit ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]

    def content(h):
        return b"" if h[1] == 8 else data[h[4]:h[4] + h[5]]   # SHT_NOBITS has no content

    names = content(headers[shstrndx]) if headers else b""
    return [(_cstring(names, h[0]), h[1], content(h), h[6]) for h in headers]


def elf_notes(data: bytes) -> List[Tuple[str, int, bytes]]:
    """(owner, type, descriptor) of each note in the SHT_NOTE sections of a little-endian 64-bit ELF file."""
    notes = []
    for _, kind, content, _ in elf_sections(data):
        pos = 0
        while kind == 7 and pos + 12 <= len(content):
            namesz, descsz, note_type = struct.unpack_from("<III", content, pos)
            pos += 12
            owner = content[pos:pos + namesz].rstrip(b"\0").decode(errors="replace")
            pos += (namesz + 3) & ~3
            notes.append((owner, note_type, content[pos:pos + descsz]))
            pos += (descsz + 3) & ~3
    return notes


def bzimage_payload(bzimage: bytes) -> Optional[bytes]:
    """The ELF kernel a bzImage carries, decompressed (boot protocol 2.08+ gives its place in the setup header);
    None when ``bzimage`` is no such bzImage or its payload is neither xz nor gzip."""
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", bzimage, 0x206)[0] < 0x208:
        return None
    offset, length = struct.unpack_from("<II", bzimage, 0x248)
    start = ((bzimage[0x1F1] or 4) + 1) * 512 + offset
    payload = bzimage[start:start + length]
    try:
        if payload.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
        if payload.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    except (lzma.LZMAError, zlib.error):
        return None
    return None


def bootable_kernel(bzimage: bytes) -> bytes:
    """What the guest boots: the ELF kernel inside ``bzimage`` when it has a PVH entry point (``PVH_ENTRY_NOTE``),
    else ``bzimage`` itself."""
    elf = bzimage_payload(bzimage)
    try:
        pvh = elf is not None and any(owner == "Xen" and kind == PVH_ENTRY_NOTE for owner, kind, _ in elf_notes(elf))
    except (ValueError, struct.error):
        pvh = False
    return elf if pvh else bzimage


def _cstring(blob: bytes, offset: int) -> str:
    return blob[offset:blob.index(b"\0", offset)].decode()


def elf_needs(data: bytes) -> Tuple[Optional[str], List[str]]:
    """(program interpreter, DT_NEEDED libraries) of an ELF executable or library."""
    sections = elf_sections(data)
    interp, needed = None, []
    for name, kind, content, link in sections:
        if name == ".interp":
            interp = content.rstrip(b"\0").decode()
        elif kind == 6:                                          # SHT_DYNAMIC
            strings = sections[link][2]
            for tag, value in struct.iter_unpack("<qQ", content):
                if tag == 1:                                     # DT_NEEDED
                    needed.append(_cstring(strings, value))
    return interp, needed


def modinfo(data: bytes) -> Dict[str, str]:
    """The first value of each key of a kernel module's .modinfo section (name, depends, vermagic ...)."""
    info: Dict[str, str] = {}
    for name, _, content, _ in elf_sections(data):
        if name == ".modinfo":
            for entry in content.split(b"\0"):
                key, sep, value = entry.decode(errors="replace").partition("=")
                if sep:
                    info.setdefault(key, value)
    return info


# ---------------------------------------------------------------------------------------------- kernel


def module_order(depends: Dict[str, List[str]], groups: Dict[str, Sequence[str]]) -> Dict[str, List[str]]:
    """Each group's modules with their dependencies, in load order; a module is loaded in the first group needing it."""
    loaded: List[str] = []
    order: Dict[str, List[str]] = {}

    def visit(name, chain, out):
        if name in loaded:
            return
        if name in chain:
            raise LabError(f"kernel module dependency loop: {' -> '.join(chain + [name])}")
        if name not in depends:
            needed_by = f" (needed by {chain[-1]})" if chain else ""
            raise LabError(f"the kernel package has no module {name}{needed_by}")
        for dep in sorted(depends[name]):
            visit(dep, chain + [name], out)
        loaded.append(name)
        out.append(name)

    for group, roots in groups.items():
        order[group] = []
        for root in roots:
            visit(root, [], order[group])
    return order


@dataclass
class KernelBundle:
    """What the guest takes from the kernel package: vmlinuz and the modules it loads."""

    path: Path

    @property
    def ready(self) -> bool:
        return (self.path / "bundle.json").exists()

    @property
    def vmlinuz(self) -> Path:
        return self.path / "vmlinuz"

    @property
    def info(self) -> dict:
        return json.loads((self.path / "bundle.json").read_text())

    def module(self, name: str) -> Path:
        return self.path / "modules" / f"{name}.ko"


def _bundle_dir(cache: Path, deb_hash: str, groups: Dict[str, Sequence[str]]) -> Path:
    key = hashlib.sha256(json.dumps([deb_hash, groups], sort_keys=True).encode()).hexdigest()[:16]
    return cache / f"kernel-{key}"


def _kernel_tar(deb: Path, dest: Path) -> Path:
    """The kernel package's data as a plain tar in ``dest``: decompressed once, then read at random."""
    tar = dest / "data.tar"
    with open(tar, "wb") as out:
        proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=out, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise LabError(f"cannot read {deb.name}: {proc.stderr.decode(errors='replace').strip()}")
    return tar


def _read_kernel(tar_path: Path, wanted: Iterable[str]) -> Tuple[str, bytes, Dict[str, List[str]], Dict[str, bytes]]:
    """(version, vmlinuz, {module: depends}, {module: .ko}) for ``wanted`` and everything they depend on."""
    with tarfile.open(tar_path) as tar:
        vmlinuz, files = None, {}
        for member in tar:
            name = member.name[2:] if member.name.startswith("./") else member.name
            if not member.isfile():
                continue
            if name.startswith("boot/vmlinuz-"):
                vmlinuz = member
            elif name.startswith("lib/modules/") and re.search(r"\.ko(\.xz)?$", name):
                files[posixpath.basename(name).split(".ko")[0].replace("-", "_")] = member
        if vmlinuz is None:
            raise LabError("the kernel package has no boot/vmlinuz-*")
        depends, blobs, pending = {}, {}, list(wanted)
        while pending:
            module = pending.pop()
            if module in blobs or module not in files:
                continue   # a module the package lacks is reported by module_order, with what needs it
            data = tar.extractfile(files[module]).read()
            if files[module].name.endswith(".xz"):
                data = lzma.decompress(data)
            blobs[module] = data
            depends[module] = [d for d in modinfo(data).get("depends", "").split(",") if d]
            pending.extend(depends[module])
        return vmlinuz.name.split("vmlinuz-", 1)[1], tar.extractfile(vmlinuz).read(), depends, blobs


def kernel_bundle(deb: Path, deb_hash: str, cache: Path, groups: Dict[str, Sequence[str]] = MODULE_GROUPS
                  ) -> KernelBundle:
    """vmlinuz and the modules of ``groups`` from the kernel package, kept in ``cache`` once taken."""
    bundle = KernelBundle(_bundle_dir(cache, deb_hash, groups))
    if bundle.ready:
        return bundle
    tmp = bundle.path.with_name(f".{bundle.path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "modules").mkdir(parents=True)
    try:
        wanted = [m for roots in groups.values() for m in roots]
        version, vmlinuz, depends, blobs = _read_kernel(_kernel_tar(deb, tmp), wanted)
    finally:
        (tmp / "data.tar").unlink(missing_ok=True)
    order = module_order(depends, groups)
    (tmp / "vmlinuz").write_bytes(vmlinuz)
    for names in order.values():
        for name in names:
            (tmp / "modules" / f"{name}.ko").write_bytes(blobs[name])
    (tmp / "bundle.json").write_text(json.dumps({"version": version, "order": order}, indent=1))
    shutil.rmtree(bundle.path, ignore_errors=True)
    tmp.rename(bundle.path)
    return bundle


# ---------------------------------------------------------------------------------------------- initramfs


class Cpio:
    """A newc cpio archive (the initramfs format) built in memory; reproducible: every mtime is 0."""

    def __init__(self):
        self.entries: Dict[str, Tuple[int, bytes, Tuple[int, int]]] = {}   # path -> (mode, data, rdev)

    def _add(self, path: str, mode: int, data: bytes = b"", rdev: Tuple[int, int] = (0, 0)) -> None:
        path = path.strip("/")
        parent = posixpath.dirname(path)
        if parent and parent not in self.entries:
            self.dir(parent)
        self.entries[path] = (mode, data, rdev)

    def dir(self, path: str, mode: int = 0o755) -> None:
        self._add(path, stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._add(path, stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self._add(path, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, path: str, mode: int, major: int, minor: int) -> None:
        self._add(path, stat.S_IFCHR | mode, rdev=(major, minor))

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        entries = sorted(self.entries.items()) + [("TRAILER!!!", (0, b"", (0, 0)))]
        for ino, (path, (mode, data, rdev)) in enumerate(entries, start=1):
            name = path.encode() + b"\0"
            nlink = 2 if stat.S_ISDIR(mode) else 1
            fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name), 0)
            out.write(b"070701" + "".join(f"{v:08X}" for v in fields).encode() + name)
            out.write(b"\0" * (-(110 + len(name)) % 4))
            out.write(data)
            out.write(b"\0" * (-len(data) % 4))
        return out.getvalue()


def _install(cpio: Cpio, tree: PackageTree, path: str) -> str:
    """Put ``path`` of the packages into the guest where it is in the packages, symlinks and their targets alike;
    the path of the file itself."""
    *links, final = tree.chain(path)
    for link in links:
        cpio.symlink(link, tree.links[link])
    if final not in tree.files:
        raise LabError(f"no package of the guest has {final}")
    mode, data = tree.files[final]
    cpio.file(final, data, mode)
    return final


def _install_libraries(cpio: Cpio, tree: PackageTree, binary: str) -> None:
    """The program interpreter and every library ``binary`` needs, recursively."""
    pending, seen = [binary], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        interp, needed = elf_needs(tree.files[path][1])
        if interp:
            pending.append(_install(cpio, tree, interp.lstrip("/")))
        for lib in needed:
            found = next((f"{d}/{lib}" for d in LIBRARY_DIRS if tree.exists(f"{d}/{lib}")), None)
            if found is None:
                raise LabError(f"{path} needs {lib}, which none of the packages {', '.join(USERLAND_PACKAGES)} "
                               "has: add its package to USERLAND_PACKAGES")
            pending.append(_install(cpio, tree, found))


def guest_files() -> Dict[str, bytes]:
    """The guest's scripts from files/, by file name."""
    return {name: (FILES / name).read_bytes() for name, _, _ in GUEST_FILES}


def initramfs(kernel: KernelBundle, tree: PackageTree, build_info: str) -> bytes:
    """The guest's root filesystem as a cpio archive (not yet compressed)."""
    cpio = Cpio()
    for d in ("dev", "etc/dropbear", "mnt/config", "proc", "run", "sys", "var/log"):
        cpio.dir(d)
    cpio.dir("root", 0o700)
    cpio.dir("root/.ssh", 0o700)
    cpio.dir("tmp", 0o1777)
    cpio.chardev("dev/console", 0o600, 5, 1)
    cpio.chardev("dev/null", 0o666, 1, 3)
    # one bin/ for everything: rcS makes the busybox applet links at boot
    cpio.symlink("init", "bin/busybox")
    cpio.symlink("bin/sh", "busybox")
    cpio.symlink("sbin", "bin")
    cpio.symlink("usr/bin", "../bin")
    cpio.symlink("usr/sbin", "../bin")
    cpio.symlink("var/run", "../run")
    for source, dest in GUEST_BINARIES:
        source = tree.resolve(source)
        if source not in tree.files:
            raise LabError(f"no package of the guest has {source}")
        mode, data = tree.files[source]
        cpio.file(dest, data, mode)
        _install_libraries(cpio, tree, source)
    info = kernel.info
    for group, names in info["order"].items():
        for name in names:
            cpio.file(f"lib/modules/{name}.ko", kernel.module(name).read_bytes())
        cpio.file(f"lib/modules/{group}.order", "".join(f"{n}\n" for n in names).encode())
    cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    cpio.file("etc/group", b"root:x:0:\n")
    cpio.file("etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o600)
    cpio.file("etc/shells", b"/bin/sh\n")
    cpio.file("etc/hostname", b"guest\n")
    cpio.file("etc/oslab/build", build_info.encode())
    for name, dest, mode in GUEST_FILES:
        cpio.file(dest, (FILES / name).read_bytes(), mode)
    return cpio.to_bytes()


# ---------------------------------------------------------------------------------------------- build


def _inputs(debs: Dict[str, Deb]) -> dict:
    return {
        "builder": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),   # any change to this code
        "packages": {k: [d.filename, d.hash] for k, d in sorted(debs.items())},
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(guest_files().items())},
        "modules": MODULE_GROUPS,
        "os_command_line": DEFAULT_COMMAND_LINE,
    }


def _digest(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _local_part(inputs: dict) -> dict:
    return {k: v for k, v in inputs.items() if k != "packages"}


def load(workdir: Path) -> Optional[GuestImage]:
    """The image recorded in ``workdir``'s manifest, if its files are all there and unchanged."""
    workdir = Path(workdir)
    try:
        manifest = json.loads((workdir / MANIFEST).read_text())
        for name, recorded in manifest["outputs"].items():
            path = workdir / name
            if not path.is_file() or path.stat().st_size != recorded["size"] or \
                    _file_hash(path) != recorded["hash"]:
                return None
        return GuestImage(kernel=workdir / KERNEL_OUT, initrd=workdir / INITRD_OUT, disk=workdir / DISK_OUT,
                          os_command_line=manifest["os_command_line"], kernel_version=manifest["kernel_version"],
                          digest=manifest["digest"], packages=manifest["package_files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def current(workdir: Path, apt: Optional[Apt] = None) -> Optional[GuestImage]:
    """The image in ``workdir`` if it is built from the inputs a build would use now, else None.

    When apt cannot say which packages it would use now (no lists), an image built by this same code stands.
    """
    workdir = Path(workdir)
    image = load(workdir)
    if image is None:
        return None
    manifest = json.loads((workdir / MANIFEST).read_text())
    try:
        inputs = _inputs(resolve_packages(apt or Apt(workdir / "apt")))
    except LabError:
        recorded = manifest.get("inputs", {})
        local = _local_part(_inputs({}))
        return image if _local_part(recorded) == json.loads(json.dumps(local)) else None
    return image if _digest(inputs) == image.digest else None


def build(workdir: Path, apt: Optional[Apt] = None, force: bool = False) -> GuestImage:
    """Build the guest image in ``workdir`` (or return the one there when its inputs have not changed)."""
    started = time.monotonic()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    apt = apt or Apt(workdir / "apt")
    debs = resolve_packages(apt)
    inputs = _inputs(debs)
    digest = _digest(inputs)
    if not force:
        image = load(workdir)
        if image is not None and image.digest == digest:
            return image
    deb_dir = workdir / "debs"
    paths = fetch(apt, [debs[p] for p in USERLAND_PACKAGES], deb_dir)
    kernel_deb = debs["kernel"]
    bundle = KernelBundle(_bundle_dir(workdir, kernel_deb.hash, MODULE_GROUPS))
    if not bundle.ready:   # the kernel package is needed only until its bundle is kept
        kernel_path = fetch(apt, [kernel_deb], deb_dir)[kernel_deb.package]
        bundle = kernel_bundle(kernel_path, kernel_deb.hash, workdir)
    tree = PackageTree()
    for package in USERLAND_PACKAGES:
        tree.add_deb(paths[package])
    version = bundle.info["version"]
    build_info = f"kernel={version}\ndigest={digest}\n" + "".join(
        f"package={d.filename}\n" for d in debs.values())
    initrd = gzip.compress(initramfs(bundle, tree, build_info), compresslevel=6, mtime=0)

    outputs = {KERNEL_OUT: bootable_kernel(bundle.vmlinuz.read_bytes()), INITRD_OUT: initrd, DISK_OUT: bytes(DISK_SIZE)}
    for name, data in outputs.items():
        _write_atomic(workdir / name, data)
    manifest = {
        "digest": digest,
        "inputs": inputs,
        "kernel_version": version,
        "os_command_line": DEFAULT_COMMAND_LINE,
        "package_files": {d.package: d.filename for d in debs.values()},
        "outputs": {name: {"size": (workdir / name).stat().st_size, "hash": _file_hash(workdir / name)}
                    for name in outputs},
        "build_seconds": round(time.monotonic() - started, 2),
    }
    _write_atomic(workdir / MANIFEST, json.dumps(manifest, indent=1).encode())
    _prune(workdir, keep_debs={d.filename for d in debs.values()}, keep_bundle=bundle.path)
    return load(workdir)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _prune(workdir: Path, keep_debs: set, keep_bundle: Path) -> None:
    """Drop the debs and kernel bundles of earlier builds."""
    for deb in (workdir / "debs").glob("*.deb"):
        if deb.name not in keep_debs:
            deb.unlink()
    for bundle in workdir.glob("kernel-*"):
        if bundle != keep_bundle:
            shutil.rmtree(bundle, ignore_errors=True)


class GuestImageStep(Step):
    """The guest image in ``lab.root / "image"``: done when it is there and built from today's inputs."""

    name = "guest-image"

    def __init__(self, apt: Optional[Apt] = None):
        self.apt = apt
        self.image: Optional[GuestImage] = None

    @staticmethod
    def workdir(lab) -> Path:
        return Path(lab.root) / "image"

    def done(self, lab) -> bool:
        self.image = current(self.workdir(lab), self.apt)
        return self.image is not None

    def run(self, lab) -> None:
        self.image = build(self.workdir(lab), self.apt)

    def result(self, lab) -> GuestImage:
        """The built image (building it if need be)."""
        if self.image is None and not self.done(lab):
            self.run(lab)
        return self.image
