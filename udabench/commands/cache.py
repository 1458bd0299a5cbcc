"""``udabench cache``: the decoded-data cache's entries, listed or removed."""

from __future__ import annotations


def command_cache(args) -> int:
    from udabench.data import cache

    folder = cache.cache_folder()
    if folder is None:
        print("the decoded-data cache is off (UDABENCH_CACHE=off)")
        return 0
    entries = cache.entries(folder)
    if args.clear:
        freed = cache.clear(folder)
        print(f"removed {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} from {folder}, "
              f"freed {freed / 1e6:.2f} MB")
        return 0
    from tabulate import tabulate

    rows = []
    for entry in entries:
        size = entry.get("size")
        size = f"{size[1]}x{size[0]}" if isinstance(size, list) and len(size) == 2 else "-"
        rows.append([entry.get("dataset", "?"), entry.get("split", "?"), size, f"{entry['bytes'] / 1e6:.2f}",
                     entry.get("source", "")])
    if rows:
        print(tabulate(rows, headers=["dataset", "split", "size", "MB", "source"], tablefmt="github",
                       disable_numparse=True, colalign=["left", "left", "left", "right", "left"]))
    total = sum(entry["bytes"] for entry in entries)
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {total / 1e6:.2f} MB in {folder}")
    return 0
