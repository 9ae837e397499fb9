#!/usr/bin/env python3
"""What a saved generation writes, class by class: how many of its texts hold an "@", a "#", a
digit, a double space, and how many the targets' classifier puts in their own class.

    python3 scripts/experiments/multiclass/marks-of-generation.py GEN.json [GEN.json ...]

GEN.json is what `bench quality --synthetic-out` saves (its `examples` carry `labelIndex` and,
with the target classifier on, `target_label`). One JSON line per file and class on stdout.
"""
import json
import re
import sys

for path in sys.argv[1:]:
    gen = json.load(open(path))
    by_class = {}
    for e in gen["examples"]:
        by_class.setdefault(e["labelIndex"], []).append(e)
    for c, rows in sorted(by_class.items()):
        texts = [r["text"] for r in rows]
        judged = [r for r in rows if "target_label" in r]
        print(json.dumps({
            "file": path,
            "class": c,
            "texts": len(rows),
            "with_at": sum("@" in t for t in texts),
            "with_hash": sum("#" in t for t in texts),
            "with_digit": sum(bool(re.search(r"[0-9]", t)) for t in texts),
            "with_double_space": sum("  " in t for t in texts),
            "on_label_by_targets": round(sum(r["target_label"] == c for r in judged) / len(judged), 3) if judged else None,
        }))
