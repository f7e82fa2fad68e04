"""Chat transports: IRC, Matrix and the console, behind one interface."""
