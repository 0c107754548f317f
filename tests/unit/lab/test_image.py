"""The guest image builder, without network or QEMU: fake packages made with dpkg-deb, a fake apt, fake ELF
files; and the guest's scripts run on the build host against fake commands."""
from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import shutil
import stat
import struct
import subprocess
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_oslab.lab import image
from pytest_oslab.lab.image import Apt, Cpio, Deb, GuestImageStep, LabError

FILES = image.FILES
KVER = "9.9.0-1-amd64"
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")


# ------------------------------------------------------------------------------------------- fakes


def make_elf(sections) -> bytes:
    """A little-endian ELF64 file holding ``sections``: (name, type, content, link) each."""
    names = b"\0"
    offsets = []
    for name, *_ in sections:
        offsets.append(len(names))
        names += name.encode() + b"\0"
    shstr_name = len(names)
    names += b".shstrtab\0"
    body = b""
    placed = []
    for (name, kind, content, link), name_offset in zip(sections, offsets):
        placed.append((name_offset, kind, 64 + len(body), len(content), link))
        body += content
    placed.append((shstr_name, 3, 64 + len(body), len(names), 0))
    body += names
    shoff = 64 + len(body)
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(placed) + 1, len(placed))
    table = bytes(64)   # section 0 is empty
    for name_offset, kind, offset, size, link in placed:
        table += struct.pack("<IIQQQQIIQQ", name_offset, kind, 0, 0, offset, size, link, 0, 1, 0)
    return header + body + table


def module(name: str, depends=()) -> bytes:
    modinfo = f"license=GPL\0depends={','.join(depends)}\0name={name}\0vermagic={KVER} SMP\0".encode()
    return make_elf([(".text", 1, b"\x90" * 16, 0), (".modinfo", 1, modinfo, 0)]) + b"~Module signature appended~\n"


def program(interp=None, needed=()) -> bytes:
    sections = [(".text", 1, b"\x90" * 32, 0)]
    if interp:
        sections.append((".interp", 1, interp.encode() + b"\0", 0))
    if needed:
        strings, entries = b"\0", b""
        for lib in needed:
            entries += struct.pack("<qQ", 1, len(strings))
            strings += lib.encode() + b"\0"
        strtab_index = len(sections) + 1   # section 0 is the empty one
        sections.append((".dynstr", 3, strings, 0))
        sections.append((".dynamic", 6, entries + struct.pack("<qQ", 0, 0), strtab_index))
    return make_elf(sections)


# The fake kernel's modules: the real dependency shape of the guest's groups (and one extra).
MODULES = {
    "virtio_ring": [], "virtio": [], "virtio_pci_legacy_dev": [], "virtio_pci_modern_dev": [],
    "virtio_pci": ["virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev"],
    "failover": [], "net_failover": ["failover"], "virtio_net": ["net_failover", "virtio", "virtio_ring"],
    "virtio_blk": ["virtio", "virtio_ring"], "scsi_common": [], "scsi_mod": ["scsi_common"],
    "libata": ["scsi_mod"], "ata_piix": ["libata"], "libahci": ["libata"], "ahci": ["libahci", "libata"],
    "cdrom": [], "sr_mod": ["cdrom", "scsi_mod", "scsi_common"], "isofs": [], "fat": [], "vfat": ["fat"],
    "nls_cp437": [], "nls_ascii": [], "button": [], "evdev": [], "unrelated": ["cdrom"],
}


def build_deb(root: Path, package: str, version: str, files: dict, links: dict = None) -> Path:
    """A .deb of ``files`` (path: bytes) and ``links`` (path: target), made with dpkg-deb."""
    tree = root / f"{package}-tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: amd64\nMaintainer: test <t@example.org>\n"
        f"Description: fake {package}\n")
    for path, data in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
        (tree / path).chmod(0o755)
    for path, target in (links or {}).items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, tree / path)
    out = root / f"{package}_{version}_amd64.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(tree), str(out)], check=True,
                   capture_output=True)
    shutil.rmtree(tree)
    return out


def fake_repository(root: Path, kernel_version: str = "1") -> dict:
    """package -> .deb for a fake kernel and userland shaped like the real ones."""
    root.mkdir(parents=True, exist_ok=True)
    kernel = {f"boot/vmlinuz-{KVER}": b"fake bzImage " + kernel_version.encode()}
    for name, deps in MODULES.items():
        kernel[f"lib/modules/{KVER}/kernel/drivers/x/{name.replace('_', '-') if name == 'nls_cp437' else name}.ko"] = \
            module(name, deps)
    loader = "/lib64/ld-linux-x86-64.so.2"
    debs = {
        "linux-image-9.9.0-1-amd64": build_deb(root, "linux-image-9.9.0-1-amd64", kernel_version, kernel),
        "busybox-static": build_deb(root, "busybox-static", "1", {"bin/busybox": program()}),
        "dropbear-bin": build_deb(root, "dropbear-bin", "1", {
            "usr/sbin/dropbear": program(loader, ["libtomcrypt.so.1", "libc.so.6"]),
            "usr/bin/dropbearkey": program(loader, ["libc.so.6"])}),
        "libc6": build_deb(root, "libc6", "1", {
            "lib/x86_64-linux-gnu/libc.so.6": program(None, ["ld-linux-x86-64.so.2"]),
            "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": program()},
            links={"lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"}),
        "libtomcrypt1": build_deb(root, "libtomcrypt1", "1", {
            "usr/lib/x86_64-linux-gnu/libtomcrypt.so.1.0.1": program(None, ["libtommath.so.1", "libc.so.6"])},
            links={"usr/lib/x86_64-linux-gnu/libtomcrypt.so.1": "libtomcrypt.so.1.0.1"}),
        "libtommath1": build_deb(root, "libtommath1", "1", {
            "usr/lib/x86_64-linux-gnu/libtommath.so.1": program(None, ["libc.so.6"])}),
    }
    for package in ("libcrypt1", "libgmp10", "zlib1g"):
        debs[package] = build_deb(root, package, "1", {f"usr/share/doc/{package}/copyright": b"x"})
    return debs


class FakeApt(Apt):
    """apt for a directory of .debs: counts downloads; ``fail`` names packages it cannot download."""

    def __init__(self, debs: dict):
        super().__init__(None)
        self.debs = debs
        self.downloads = []
        self.fail = set()
        self.corrupt = set()
        self.broken = False

    def depends(self, package):
        if self.broken:
            raise LabError("apt-cache show linux-image-amd64 failed: E: no lists")
        assert package == "linux-image-amd64"
        return ["linux-image-9.9.0-1-amd64", "initramfs-tools"]

    def locate(self, packages):
        return {p: Deb(p, self.debs[p].name, self.debs[p].stat().st_size,
                       "sha256:" + hashlib.sha256(self.debs[p].read_bytes()).hexdigest()) for p in packages}

    def download(self, packages, dest):
        self.downloads.append(list(packages))
        for p in packages:
            if p in self.corrupt:
                (dest / self.debs[p].name).write_bytes(b"not this")
            elif p not in self.fail:
                shutil.copy(self.debs[p], dest / self.debs[p].name)
        failed = [p for p in packages if p in self.fail]
        if failed:
            raise LabError(f"apt-get download failed: E: Failed to fetch http://deb.example/{failed[0]}.deb")


def read_cpio(data: bytes) -> dict:
    """path -> (mode, content, (rdevmajor, rdevminor)) of a newc archive."""
    entries, offset = {}, 0
    while True:
        assert data[offset:offset + 6] == b"070701", f"bad magic at {offset}"
        fields = [int(data[offset + 6 + 8 * i: offset + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[offset + 110: offset + 110 + namesize - 1].decode()
        offset += 110 + namesize
        offset += -offset % 4
        content = data[offset: offset + size]
        offset += size
        offset += -offset % 4
        if name == "TRAILER!!!":
            return entries
        entries[name] = (mode, content, (fields[9], fields[10]))


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    return fake_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, repository):
    """One image built from the fake repository, and its unpacked initramfs."""
    workdir = tmp_path_factory.mktemp("image")
    guest = image.build(workdir, FakeApt(dict(repository)))
    return guest, read_cpio(gzip.decompress(guest.initrd.read_bytes()))


# ------------------------------------------------------------------------------------------- command line


def test_default_command_line_has_serial_console_and_offloads_off():
    assert image.DEFAULT_COMMAND_LINE == \
        "console=ttyS0 acpi=noirq cryptomgr.notests oslab.virtio_csum=0 oslab.hotplug_dhcp=1"


def test_command_line_switches():
    assert image.command_line(virtio_csum=True, hotplug_dhcp=False, extra=["oslab.debug=1"]) == \
        "console=ttyS0 acpi=noirq cryptomgr.notests oslab.virtio_csum=1 oslab.hotplug_dhcp=0 oslab.debug=1"


# ------------------------------------------------------------------------------------------- the kernel booted

# Debian 12's linux-image-6.1.0-56-amd64: the descriptor of its XEN_ELFNOTE_PHYS32_ENTRY note (readelf -n)
PVH_NOTE = b"\x04\x00\x00\x00\x08\x00\x00\x00\x12\x00\x00\x00Xen\x00P\x08\x00\x01\x00\x00\x00\x00"
OTHER_NOTE = b"\x04\x00\x00\x00\x04\x00\x00\x00\x06\x00\x00\x00Xen\x00linu"   # XEN_ELFNOTE_GUEST_OS


def bzimage(payload: bytes, setup_sects: int = 3) -> bytes:
    """A bzImage as the boot protocol lays it out: setup sectors, then the payload at payload_offset."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)
    struct.pack_into("<II", setup, 0x248, 0x40, len(payload) + 4)
    return bytes(setup) + bytes(0x40) + payload + struct.pack("<I", 1234) + b"trailing code"


def kernel_elf(*notes: bytes) -> bytes:
    return make_elf([(".text", 1, b"\x90" * 64, 0)] + [(".notes", 7, note, 0) for note in notes])


@pytest.mark.parametrize("compress", [lzma.compress, lambda data: gzip.compress(data, mtime=0)], ids=["xz", "gzip"])
def test_a_kernel_with_a_pvh_entry_is_booted_as_its_elf(compress):
    elf = kernel_elf(OTHER_NOTE + PVH_NOTE)
    assert image.bootable_kernel(bzimage(compress(elf))) == elf
    assert ("Xen", image.PVH_ENTRY_NOTE, b"P\x08\x00\x01\x00\x00\x00\x00") in image.elf_notes(elf)


def test_a_kernel_without_a_pvh_entry_or_not_a_bzimage_stays_as_it_is():
    without = bzimage(lzma.compress(kernel_elf(OTHER_NOTE)))
    assert image.bootable_kernel(without) == without
    for other in (b"fake bzImage 1", bzimage(b"\x28\xb5\x2f\xfd zstd, not read here"), bzimage(b"\xfd7zXZ\x00 broken")):
        assert image.bootable_kernel(other) == other


# ------------------------------------------------------------------------------------------- ELF, modules


def test_modinfo_reads_name_and_depends():
    info = image.modinfo(module("virtio_net", ["net_failover", "virtio"]))
    assert info["name"] == "virtio_net" and info["depends"] == "net_failover,virtio"


def test_elf_needs_gives_interpreter_and_libraries():
    assert image.elf_needs(program("/lib64/ld.so", ["liba.so.1", "libc.so.6"])) == \
        ("/lib64/ld.so", ["liba.so.1", "libc.so.6"])
    assert image.elf_needs(program()) == (None, [])


def test_not_elf_is_refused():
    with pytest.raises(ValueError):
        image.elf_sections(b"#!/bin/sh\n")


def test_module_order_puts_dependencies_first_and_loads_each_once():
    order = image.module_order(MODULES, {"net": ["virtio_net"], "disk": ["virtio_blk", "sr_mod"]})
    assert order["net"] == ["failover", "net_failover", "virtio", "virtio_ring", "virtio_net"]
    assert order["disk"] == ["virtio_blk", "cdrom", "scsi_common", "scsi_mod", "sr_mod"]


def test_module_order_names_a_missing_module_and_who_needs_it():
    with pytest.raises(LabError, match=r"no module failover \(needed by net_failover\)"):
        image.module_order({"net_failover": ["failover"]}, {"net": ["net_failover"]})


def test_module_order_reports_a_loop():
    with pytest.raises(LabError, match="loop: a -> b -> a"):
        image.module_order({"a": ["b"], "b": ["a"]}, {"g": ["a"]})


# ------------------------------------------------------------------------------------------- cpio


def test_cpio_is_newc_with_parents_first_and_padding():
    cpio = Cpio()
    cpio.file("etc/x/file", b"hello", 0o600)
    cpio.symlink("init", "bin/busybox")
    cpio.chardev("dev/console", 0o600, 5, 1)
    data = cpio.to_bytes()
    assert len(data) % 4 == 0
    entries = read_cpio(data)
    assert list(entries) == ["dev", "dev/console", "etc", "etc/x", "etc/x/file", "init"]
    assert entries["etc/x/file"][1] == b"hello" and stat.S_IMODE(entries["etc/x/file"][0]) == 0o600
    assert stat.S_ISLNK(entries["init"][0]) and entries["init"][1] == b"bin/busybox"
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["dev/console"][2] == (5, 1)
    assert stat.S_ISDIR(entries["etc/x"][0])


def test_cpio_is_reproducible():
    def make():
        cpio = Cpio()
        cpio.file("b", b"2")
        cpio.file("a", b"1")
        return cpio.to_bytes()
    assert make() == make()


# ------------------------------------------------------------------------------------------- apt


def _completed(stdout="", stderr="", returncode=0):
    return subprocess.CompletedProcess([], returncode, stdout, stderr)


def test_apt_locate_reads_print_uris(monkeypatch):
    out = ("'http://deb.example/pool/b/busybox-static_1.35.0-4%2bdeb12u1_amd64.deb' "
           "busybox-static_1%3a1.35.0-4+deb12u1_amd64.deb 928188 SHA256:3D3F\n")
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: _completed(stdout=out))
    debs = Apt().locate(["busybox-static"])
    assert debs == {"busybox-static": Deb("busybox-static", "busybox-static_1%3a1.35.0-4+deb12u1_amd64.deb",
                                          928188, "sha256:3d3f")}


def test_apt_uses_a_private_package_cache(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: seen.append(argv) or _completed(
        stdout="Package: linux-image-amd64\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n"))
    assert Apt(tmp_path / "apt").depends("linux-image-amd64") == ["linux-image-6.1.0-56-amd64"]
    assert f"Dir::Cache::pkgcache={tmp_path / 'apt' / 'pkgcache.bin'}" in seen[0]


def test_apt_failure_names_the_package(monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: _completed(
        stderr="Reading package lists...\nE: Unable to locate package dropbear-bin\n", returncode=100))
    with pytest.raises(LabError, match=r"package dropbear-bin: E: Unable to locate package dropbear-bin"):
        Apt().locate(["dropbear-bin"])


def test_apt_download_failure_is_one_short_line(monkeypatch):
    errors = "".join(f"E: Failed to fetch http://x/{i}.deb  Could not connect\n" for i in range(6))
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: _completed(stderr=errors, returncode=100))
    with pytest.raises(LabError) as raised:
        Apt().download(["a", "b"], Path("."))
    assert "(and 4 more)" in str(raised.value) and "\n" not in str(raised.value)


# ------------------------------------------------------------------------------------------- build


@needs_dpkg
def test_build_gives_kernel_initrd_disk_and_command_line(built):
    guest, _ = built
    assert guest.kernel.read_bytes() == b"fake bzImage 1"
    assert guest.disk.stat().st_size == image.DISK_SIZE
    assert guest.os_command_line == guest.cmdline == image.DEFAULT_COMMAND_LINE
    assert guest.kernel_version == KVER
    assert guest.packages["busybox-static"] == "busybox-static_1_amd64.deb"
    manifest = json.loads((guest.kernel.parent / "manifest.json").read_text())
    assert manifest["digest"] == guest.digest and set(manifest["outputs"]) == {"kernel", "initrd.img", "disk.img"}


@needs_dpkg
def test_initramfs_layout(built):
    _, entries = built
    assert entries["init"][1] == b"bin/busybox" and entries["bin/sh"][1] == b"busybox"
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["dev/console"][2] == (5, 1)
    for path in ("bin/busybox", "bin/dropbear", "bin/dropbearkey"):
        assert stat.S_IMODE(entries[path][0]) == 0o755
    assert stat.S_IMODE(entries["root/.ssh"][0]) == 0o700
    assert entries["etc/passwd"][1] == b"root:x:0:0:root:/root:/bin/sh\n"
    for name, dest, mode in image.GUEST_FILES:
        assert entries[dest][1] == (FILES / name).read_bytes() and stat.S_IMODE(entries[dest][0]) == mode
    assert b"kernel=" + KVER.encode() in entries["etc/oslab/build"][1]


@needs_dpkg
def test_initramfs_has_the_libraries_dropbear_needs_with_their_links(built):
    _, entries = built
    assert entries["lib64/ld-linux-x86-64.so.2"][1] == b"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert stat.S_ISREG(entries["lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"][0])
    assert entries["usr/lib/x86_64-linux-gnu/libtomcrypt.so.1"][1] == b"libtomcrypt.so.1.0.1"
    for lib in ("lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libtomcrypt.so.1.0.1",
                "usr/lib/x86_64-linux-gnu/libtommath.so.1"):
        assert stat.S_ISREG(entries[lib][0]), lib
    assert not any("copyright" in path for path in entries)   # packages' other files stay out


@needs_dpkg
def test_initramfs_modules_in_groups_with_dependencies_first(built):
    _, entries = built
    order = {g: entries[f"lib/modules/{g}.order"][1].decode().split() for g in image.MODULE_GROUPS}
    assert order["net"][-1] == "virtio_net" and order["net"].index("virtio_ring") < order["net"].index("virtio_pci")
    assert order["disk"].index("cdrom") < order["disk"].index("sr_mod")
    assert "virtio" not in order["disk"]     # loaded with the net group already
    assert order["acpi"] == ["button", "evdev"]
    loaded = [m for names in order.values() for m in names]
    assert sorted(loaded) == sorted(set(MODULES) - {"unrelated"})
    assert all(f"lib/modules/{m}.ko" in entries for m in loaded)
    assert "lib/modules/unrelated.ko" not in entries
    assert image.modinfo(entries["lib/modules/nls_cp437.ko"][1])["name"] == "nls_cp437"


@needs_dpkg
def test_rebuild_with_the_same_inputs_is_instant_and_downloads_nothing(tmp_path, repository):
    apt = FakeApt(dict(repository))
    first = image.build(tmp_path, apt)
    stamp = first.initrd.stat().st_mtime_ns
    downloads = len(apt.downloads)
    started = time.monotonic()
    again = image.build(tmp_path, apt)
    assert time.monotonic() - started < 1.0
    assert again == first and len(apt.downloads) == downloads and first.initrd.stat().st_mtime_ns == stamp


@needs_dpkg
def test_builds_are_reproducible(tmp_path, repository):
    one = image.build(tmp_path / "one", FakeApt(dict(repository)))
    two = image.build(tmp_path / "two", FakeApt(dict(repository)))
    assert one.digest == two.digest and one.initrd.read_bytes() == two.initrd.read_bytes()


@needs_dpkg
def test_step_is_done_only_when_built_from_todays_inputs(tmp_path, repository):
    apt = FakeApt(dict(repository))
    lab = SimpleNamespace(root=tmp_path)
    step = GuestImageStep(apt)
    assert not step.done(lab)
    step.run(lab)
    assert step.done(lab) and step.result(lab).initrd == tmp_path / "image" / "initrd.img"
    # a new kernel package: not done, and a rebuild takes it (and drops the old one from the cache)
    apt.debs["linux-image-9.9.0-1-amd64"] = fake_repository(tmp_path / "repo2", kernel_version="2")[
        "linux-image-9.9.0-1-amd64"]
    assert not step.done(lab)
    step.run(lab)
    assert step.done(lab) and step.image.kernel.read_bytes() == b"fake bzImage 2"
    assert len(list((tmp_path / "image").glob("kernel-*"))) == 1
    assert len(list((tmp_path / "image" / "debs").glob("linux-image-*"))) == 1


@needs_dpkg
def test_step_not_done_when_an_output_is_damaged(tmp_path, repository):
    lab = SimpleNamespace(root=tmp_path)
    step = GuestImageStep(FakeApt(dict(repository)))
    step.run(lab)
    (tmp_path / "image" / "initrd.img").write_bytes(b"damaged")
    assert not step.done(lab)
    step.run(lab)
    assert step.done(lab)


@needs_dpkg
def test_without_apt_lists_the_built_image_stands(tmp_path, repository):
    apt = FakeApt(dict(repository))
    image.build(tmp_path, apt)
    apt.broken = True
    assert image.current(tmp_path, apt) is not None
    with pytest.raises(LabError, match="no lists"):
        image.build(tmp_path / "other", apt)


@needs_dpkg
def test_download_failure_names_the_package(tmp_path, repository):
    apt = FakeApt(dict(repository))
    apt.fail = {"dropbear-bin"}
    with pytest.raises(LabError, match=r"^cannot download package dropbear-bin: apt-get download failed: E: Failed"):
        image.build(tmp_path, apt)
    apt.fail = set()
    image.build(tmp_path, apt)
    assert apt.downloads[-2:] == [["dropbear-bin"], ["linux-image-9.9.0-1-amd64"]]   # the others were kept


@needs_dpkg
def test_a_download_not_matching_apts_hash_is_refused_and_dropped(tmp_path, repository):
    apt = FakeApt(dict(repository))
    apt.corrupt = {"libc6"}
    with pytest.raises(LabError, match="cannot download package libc6: .*no file of that size and hash"):
        image.build(tmp_path, apt)
    assert not (tmp_path / "debs" / repository["libc6"].name).exists()


@needs_dpkg
def test_a_library_no_package_has_is_named(tmp_path, repository):
    apt = FakeApt(dict(repository))
    apt.debs["libtommath1"] = build_deb(tmp_path, "libtommath1", "2", {"usr/share/doc/x": b"x"})
    with pytest.raises(LabError, match="needs libtommath.so.1"):
        image.build(tmp_path / "image", apt)


@needs_dpkg
def test_a_module_the_kernel_lacks_is_named(tmp_path, repository, monkeypatch):
    monkeypatch.setitem(image.MODULE_GROUPS, "extra", ("no_such_module",))
    with pytest.raises(LabError, match="no module no_such_module"):
        image.build(tmp_path, FakeApt(dict(repository)))


# ------------------------------------------------------------------------------------------- guest scripts


@pytest.mark.parametrize("name", ["guest-rcS", "guest-net", "guest-udhcpc", "guest-power"])
def test_guest_shell_scripts_parse(name):
    subprocess.run(["sh", "-n", str(FILES / name)], check=True)


def test_rcs_announces_each_step_and_reads_its_parameters():
    rcs = (FILES / "guest-rcS").read_text()
    for marker in ("init start", "network modules loaded", "key fetched from", "SSH-READY", "no SSH key"):
        assert marker in rcs
    for param in ("virtio_csum 0", "hotplug_dhcp 1", "metadata_timeout", "dhcp_timeout", "debug 0"):
        assert f"$(param {param}" in rcs
    assert 'VIRTIO_NET_ARGS="csum=0 gso=0"' in rcs
    assert "dropbear -R" in rcs and "config-2" in rcs and "169.254.169.254" in rcs
    assert "udhcpc -f -i \"$1\" -O mtu -O staticroutes" in (FILES / "guest-net").read_text()


def test_inittab_runs_rcs():
    assert "::sysinit:/etc/init.d/rcS" in (FILES / "guest-inittab").read_text()


META_DATA = {
    "uuid": "u-1", "hostname": "vm-1.novalocal", "name": "vm-1", "launch_index": 0,
    "public_keys": {"k1": "ssh-ed25519 AAAA one@x\n", "k2": "ssh-rsa BBBB two\\ \"q\"\nssh-rsa CCCC three"},
    "keys": [{"name": "k1", "type": "ssh", "data": "ssh-ed25519 AAAA one@x\n"}],
    "meta": {}, "devices": [], "t": True, "n": None,
}


@pytest.mark.skipif(shutil.which("awk") is None, reason="no awk")
@pytest.mark.parametrize("indent", [None, 2])
def test_json_flattener_on_meta_data(tmp_path, indent):
    (tmp_path / "m.json").write_text(json.dumps(META_DATA, indent=indent))
    out = subprocess.run(["awk", "-f", str(FILES / "guest-json.awk"), str(tmp_path / "m.json")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [
        "uuid=u-1", "hostname=vm-1.novalocal", "name=vm-1", "launch_index=0",
        "public_keys.k1=ssh-ed25519 AAAA one@x",
        'public_keys.k2=ssh-rsa BBBB two\\ "q"', "public_keys.k2=ssh-rsa CCCC three",
        "keys.0.name=k1", "keys.0.type=ssh", "keys.0.data=ssh-ed25519 AAAA one@x",
        "t=true", "n=null",
    ]


@pytest.mark.skipif(shutil.which("awk") is None, reason="no awk")
def test_json_flattener_refuses_garbage(tmp_path):
    (tmp_path / "m.json").write_text('{"a": "unterminated')
    assert subprocess.run(["awk", "-f", str(FILES / "guest-json.awk"), str(tmp_path / "m.json")]).returncode == 1


class FakeGuestCommands:
    """A bin/ of fake ``ip``, ``udhcpc`` and ``kill`` logging their calls, for the guest's scripts on this host."""

    def __init__(self, root: Path):
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.log = root / "calls"
        self.console = root / "console"
        self.state = root / "state"
        self.sys = root / "sys"
        self.default_route = root / "default-route"
        self.address = root / "address"
        for name in ("ip", "udhcpc"):
            self._command(name, f"""
                echo "{name} $*" >> {self.log}
                case "$*" in
                    "route show default") cat {self.default_route} 2>/dev/null ;;
                    "-4 addr show dev "*) cat {self.address} 2>/dev/null ;;
                esac
                [ {name} = udhcpc ] && exec sleep 30
                exit 0""")

    def _command(self, name, body):
        path = self.bin / name
        path.write_text("#!/bin/sh\n" + textwrap.dedent(body).strip() + "\n")
        path.chmod(0o755)

    def env(self, **extra):
        env = {"PATH": f"{self.bin}:{os.environ['PATH']}", "OSLAB_CONSOLE": str(self.console),
               "OSLAB_NET_STATE": str(self.state), "OSLAB_SYS_NET": str(self.sys)}
        env.update(extra)
        return env

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def said(self):
        return self.console.read_text().splitlines() if self.console.exists() else []


@pytest.fixture
def fake(tmp_path):
    return FakeGuestCommands(tmp_path)


def isolated(argv):
    """Run a guest script in a network namespace of its own: should a fake command be missed and the real
    ``ip`` run, it changes a throwaway namespace, never the host's interfaces."""
    if os.geteuid() != 0:
        pytest.skip("running the guest's scripts safely needs root (unshare --net)")
    return ["unshare", "--net", "--", *argv]


def udhcpc_event(fake, event, **lease):
    env = fake.env(interface=lease.pop("interface", "eth0"), **lease)
    subprocess.run(isolated(["sh", str(FILES / "guest-udhcpc"), event]), env=env, check=True)


def test_udhcpc_bound_sets_mtu_address_and_routes(fake):
    udhcpc_event(fake, "bound", ip="10.0.0.5", mask="24", mtu="1450", router="10.0.0.1",
                 staticroutes="169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1 10.9.0.0/16 0.0.0.0")
    assert fake.calls() == [
        "ip link set dev eth0 mtu 1450",
        "ip -4 addr show dev eth0",
        "ip -4 addr flush dev eth0",
        "ip addr add 10.0.0.5/24 dev eth0",
        "ip route replace 169.254.169.254/32 via 10.0.0.2 dev eth0",
        "ip route show default",
        "ip route replace default via 10.0.0.1 dev eth0",   # from the classless routes; router option ignored
        "ip route replace 10.9.0.0/16 dev eth0",
    ]
    assert (fake.state / "eth0.lease").read_text() == "10.0.0.5/24\n"
    assert fake.said() == ["GUEST: dhcp eth0 bound ip=10.0.0.5/24 mtu=1450 router=10.0.0.1 "
                           "routes=169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1 10.9.0.0/16 0.0.0.0"]


def test_udhcpc_renew_of_the_same_address_keeps_it(fake):
    fake.address.write_text("    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n")
    udhcpc_event(fake, "renew", ip="10.0.0.5", mask="24", router="10.0.0.1")
    assert not [c for c in fake.calls() if "flush" in c or "addr add" in c]


def test_udhcpc_second_nic_does_not_take_the_default_route(fake):
    fake.default_route.write_text("default via 10.0.0.1 dev eth0 \n")
    udhcpc_event(fake, "bound", interface="eth1", ip="10.1.0.5", mask="24", router="10.1.0.1")
    assert not [c for c in fake.calls() if c.startswith("ip route replace default")]
    fake.default_route.write_text("default via 10.1.0.1 dev eth1 \n")
    udhcpc_event(fake, "renew", interface="eth1", ip="10.1.0.5", mask="24", router="10.1.0.9")
    assert "ip route replace default via 10.1.0.9 dev eth1" in fake.calls()


def test_udhcpc_deconfig_and_leasefail(fake):
    fake.state.mkdir()
    (fake.state / "eth0.lease").write_text("x")
    udhcpc_event(fake, "deconfig")
    udhcpc_event(fake, "leasefail")
    assert fake.calls() == ["ip -4 addr flush dev eth0", "ip link set dev eth0 up"]
    assert not (fake.state / "eth0.lease").exists()
    assert fake.said() == ["GUEST: dhcp eth0 no lease yet, still asking"]


def _nic(fake, name, ifindex, mac):
    path = fake.sys / name
    shutil.rmtree(path, ignore_errors=True)
    (path / "device").mkdir(parents=True)
    (path / "ifindex").write_text(f"{ifindex}\n")
    (path / "address").write_text(f"{mac}\n")


def _scan(fake):
    subprocess.run(isolated(["sh", str(FILES / "guest-net"), "scan"]), env=fake.env(), check=True)


def _state(fake, name):
    return (fake.state / name).read_text().split()


def test_net_scan_starts_dhcp_once_per_nic_and_again_for_a_new_device(fake):
    (fake.sys / "lo").mkdir(parents=True)    # no device behind it: left alone
    (fake.sys / "lo" / "ifindex").write_text("1\n")
    _nic(fake, "eth0", 2, "52:54:00:00:00:01")
    pids = []
    try:
        _scan(fake)
        index, pid = _state(fake, "eth0")
        pids.append(int(pid))
        assert index == "2" and Path(f"/proc/{pid}").exists()
        _wait_for(lambda: len(fake.calls()) == 2)   # udhcpc runs in the background
        assert fake.calls() == ["ip link set dev eth0 up",
                                "udhcpc -f -i eth0 -O mtu -O staticroutes -t 5 -T 2 -A 3"]
        _scan(fake)                               # running: nothing new
        assert len(fake.calls()) == 2
        _nic(fake, "eth1", 3, "52:54:00:00:00:02")
        _scan(fake)                               # plugged in: DHCP
        pids.append(int(_state(fake, "eth1")[1]))
        assert fake.said()[-1] == "GUEST: net eth1 up mac=52:54:00:00:00:02, dhcp started"
        shutil.rmtree(fake.sys / "eth1")
        _scan(fake)                               # removed: its udhcpc stopped
        assert not (fake.state / "eth1").exists() and fake.said()[-1] == "GUEST: net eth1 removed"
        # plugged in again under the same name while the record of the old device is still there
        stale = subprocess.Popen(["sleep", "30"])
        _nic(fake, "eth1", 4, "52:54:00:00:00:02")
        (fake.state / "eth1").write_text(f"3 {stale.pid}\n")
        _scan(fake)                               # new ifindex: the old udhcpc stopped, a new one started
        assert stale.wait(timeout=5) == -15
        index, pid = _state(fake, "eth1")
        pids.append(int(pid))
        assert index == "4"
    finally:
        for pid in pids:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
