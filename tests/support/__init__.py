"""What tests share: fakes of the bot's own interfaces, builders of test data, stand-ins of
servers that cannot run here. Test modules import from here, never from each other."""
