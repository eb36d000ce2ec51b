/// The project's version: the one place it is written. Every plugin prints it in its "about"
/// text (run without CNI_COMMAND) and cnitool with `--version`; packaging reads it from here.
public enum SwiftCNI {
    public static let version = "0.4.0"
}
