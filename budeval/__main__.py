from budeval.cli import main

main()
