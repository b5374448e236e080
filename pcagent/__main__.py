import sys

from pcagent.cli import main

sys.exit(main())
