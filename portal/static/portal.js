// The buyer portal's progressive enhancements; every form works without this file.
