"""``python -m testbed.images build|import|ls``: build what changed, import into a containerd, list."""

from __future__ import annotations

import argparse
import sys

from testbed.images.build import build_all
from testbed.images.cache import cached_images
from testbed.images.containerd import import_images
from testbed.images.recipes import RECIPES
from testbed.images.steps import ImageBuildError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.images",
                                     description="``make images``: the product's container images, built here "
                                                 "with buildah and cached as archives.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build what changed")
    build.add_argument("names", nargs="*", help=f"default: all of {', '.join(r.name for r in RECIPES)}")
    load = commands.add_parser("import", help="import the cached archives into a containerd")
    load.add_argument("--address", required=True, help="containerd's socket")
    load.add_argument("--ctr", default="ctr")
    load.add_argument("--namespace", default="k8s.io")
    load.add_argument("names", nargs="*")
    commands.add_parser("ls", help="the cached archives")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build_all(args.names or None)
        elif args.command == "import":
            for tag in import_images(args.ctr, args.address, namespace=args.namespace, names=args.names or None):
                print(f"imported {tag}")
        else:
            for image in cached_images().values():
                print(f"{image.name:15} {image.size_bytes / 2**20:6.0f} MiB  {image.tag}  {image.archive}")
    except ImageBuildError as err:
        print(f"images: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
