"""python3 -m vmsight.volatility -t TARGET [Volatility options] PLUGIN [plugin options]

Runs Volatility 3's command line (the volatility3 found on PYTHONPATH) with
vmsight as its memory: TARGET is any vmsight target (qmp:PATH, pid:N,
gdb:HOST:PORT, dump:FILE). Options of ours, before Volatility's:
  -t, --target TARGET   the vmsight target (required)
  --vmsight-cache DIR   vmsight's cache directory (profile and ISF)
  --vmsight-no-cache    find the kernel anew and write a fresh ISF
"""

import sys


def _split(argv):
    ours = {"target": None, "cache": None, "no_cache": False}
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-t", "--target", "--vmsight-cache") and i + 1 < len(argv):
            ours["cache" if a == "--vmsight-cache" else "target"] = argv[i + 1]
            i += 2
            continue
        if a.startswith("--target="):
            ours["target"] = a.split("=", 1)[1]
        elif a == "--vmsight-no-cache":
            ours["no_cache"] = True
        elif a in ("-h", "--help") and not rest:
            print(__doc__.strip())
            print("\nVolatility's own options and plugins follow (python3 -m vmsight.volatility -t T -h).")
            return None, None
        else:
            rest.append(a)
        i += 1
    return ours, rest


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, rest = _split(argv)
    if ours is None:
        return 0
    if not ours["target"]:
        print("vmsight.volatility: -t TARGET is required (qmp:PATH, pid:N, gdb:HOST:PORT, dump:FILE)",
              file=sys.stderr)
        return 2
    try:
        import volatility3  # noqa: F401
        from volatility3 import cli
        from volatility3.framework import automagic
    except ImportError as e:
        print(f"vmsight.volatility: Volatility 3 is not importable ({e}).\n"
              "Volatility 3 is not a Debian package: put a checkout on the Python path, e.g.\n"
              "  git clone https://github.com/volatilityfoundation/volatility3 ~/vol3\n"
              "  PYTHONPATH=~/vol3 python3 -m vmsight.volatility -t TARGET linux.pslist",
              file=sys.stderr)
        return 2
    import vmsight
    from vmsight.volatility import layer
    try:
        layer.attach(ours["target"], cache_dir=ours["cache"], no_cache=ours["no_cache"])
    except vmsight.VmsightError as e:
        print(f"vmsight.volatility: {e.strerror}", file=sys.stderr)
        return 1
    # Our automagic first; Volatility's stacker and symbol finder then find
    # the kernel requirement satisfied. No file is needed (-f).
    choose = automagic.choose_automagic

    def choose_with_vmsight(automagics, plugin):
        chosen = choose(automagics, plugin)
        return [layer.VmsightKernel(a.context, "automagic.VmsightKernel") for a in chosen[:1]] + chosen
    automagic.choose_automagic = choose_with_vmsight
    sys.argv = ["vol"] + rest
    try:
        cli.main()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    finally:
        layer.detach()
    return 0


if __name__ == "__main__":
    sys.exit(main())
