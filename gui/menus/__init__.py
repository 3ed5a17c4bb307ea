"""Menus: menubar.py declares their order in one place; the others expose the actions of one feature each (model,
learning, help, export, recent folders, the folder lock)."""
