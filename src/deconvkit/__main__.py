import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports the CLI: one line, as everywhere else
    print("error: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
