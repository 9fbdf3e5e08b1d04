// Package model is the LwM2M object model registry: object and resource definitions read from
// OMA object definition XML (the format of the OMA LwM2M registry). The standard objects 0 to 7
// (Security, Server, Access Control, Device, Connectivity Monitoring, Firmware Update, Location,
// Connectivity Statistics) are embedded; more definitions can be loaded from a folder at start
// or added at run time. The registry gives the codecs their resource types and the API its names.
package model
