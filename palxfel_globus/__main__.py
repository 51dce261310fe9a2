from palxfel_globus.cli.app import main

raise SystemExit(main())
