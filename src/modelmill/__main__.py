from modelmill.cli import main

main()
