import sys

from frasi.cli import main

sys.exit(main())
