#!/usr/bin/env python
import sys

from minan.cli import run_django

if __name__ == "__main__":
    run_django(sys.argv)
