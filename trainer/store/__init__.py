"""Where the data lives: connection settings from profiles.yml, the client on embedded chDB or a server, Arrow reads,
and the stage-and-swap of partitions."""
