"""The demo: log documents and Gerrit events made from the query repo, and the self-contained
instance ``recheckbot run --demo`` starts on them."""
