import sys

from pcagent.cli.main import main

sys.exit(main())
