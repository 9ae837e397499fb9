"""Extract from a TensorFlow wheel only what the tfjs-node binding needs.

Usage: python3 extract_libtensorflow.py WHEEL DEPS_DIR BINDING_SRC_DIR

Writes DEPS_DIR/lib/{libtensorflow_cc.so.2, libtensorflow_framework.so.2} and, under
DEPS_DIR/include, the closure of quoted #includes reachable from the binding's own sources
(BINDING_SRC_DIR/*.cc, *.h): a few dozen headers instead of the wheel's 13,000. System
headers (<...>) are not followed.
Prints one JSON line: {"libs": [...], "headers": N}.
"""
import glob
import json
import os
import re
import sys
import zipfile

ROOT = "tensorflow/include/"
LIBS = ("libtensorflow_cc.so.2", "libtensorflow_framework.so.2")
INCLUDE = re.compile(rb'^\s*#\s*include\s+"([^"]+)"', re.M)


def main(wheel: str, deps: str, binding_src: str) -> None:
    z = zipfile.ZipFile(wheel)
    names = set(z.namelist())
    missing_libs = [l for l in LIBS if f"tensorflow/{l}" not in names]
    if missing_libs:
        sys.exit(f"{wheel} has no {', '.join(missing_libs)}: not a TensorFlow 2.x Linux wheel")
    todo = []
    for src in glob.glob(os.path.join(binding_src, "*.cc")) + glob.glob(os.path.join(binding_src, "*.h")):
        with open(src, "rb") as f:
            todo += [inc.decode() for inc in INCLUDE.findall(f.read())]
    if not todo:
        sys.exit(f"no binding sources with #include lines in {binding_src}")
    seen = set()
    while todo:
        header = todo.pop()
        if header in seen:
            continue
        member = ROOT + header
        if member not in names:
            # A quoted include of a system or optional header: the compiler will say if it matters.
            continue
        seen.add(header)
        for inc in INCLUDE.findall(z.read(member)):
            todo.append(inc.decode())
    for header in sorted(seen):
        info = z.getinfo(ROOT + header)
        info.filename = "include/" + header
        z.extract(info, deps)
    for lib in LIBS:
        info = z.getinfo(f"tensorflow/{lib}")
        info.filename = "lib/" + lib
        z.extract(info, deps)
    print(json.dumps({"libs": list(LIBS), "headers": len(seen)}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])
