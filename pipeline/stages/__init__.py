"""One module per DVC stage; each is a thin shell over library functions."""
