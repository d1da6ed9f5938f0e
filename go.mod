module github.com/edgetoken/edgetoken

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/Azure/azure-sdk-for-go/sdk/azcore v1.24.0
	github.com/Azure/azure-sdk-for-go/sdk/azidentity v1.15.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/tetratelabs/wazero v1.12.0
)
