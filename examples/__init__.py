"""Reference code for services that consume lapsewatch's events; not part of the lapsewatch package."""
