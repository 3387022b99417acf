from dws_edit.cli import main

main()
