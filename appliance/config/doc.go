// Package config owns wedge's configuration schema: the YAML file, the embedded defaults, the
// WEDGE_<PATH> environment overrides and validation that names the bad key.
//
// Precedence is flag > environment > file > default. Load returns a validated *Config; the
// daemon calls Load again on SIGHUP and applies the keys documented as reloadable (see
// Reloadable) without a restart.
package config
