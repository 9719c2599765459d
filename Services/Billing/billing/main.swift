import BillingService
import SwitchyardRuntime

await ServiceRuntime.main(BillingApp.definition)
