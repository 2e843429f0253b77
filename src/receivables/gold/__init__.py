"""Gold: the answers — invoice aging and what each account owes."""
