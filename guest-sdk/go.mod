module github.com/wedge-iot/wedge/guest-sdk

go 1.26
